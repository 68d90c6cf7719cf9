"""Errors the domain raises, each carrying its class and the words a person needs to fix it."""

from __future__ import annotations


class MessageRejected(Exception):
    """A message that can never be accepted as sent (HL7 AR, FHIR OperationOutcome error).

    ``location`` names where the problem is, e.g. ``PID-3`` or ``Bundle.entry[0]``, so the
    sending system's developer can find it without reading our code.
    """

    def __init__(self, reason: str, location: str | None = None, code: str = "invalid") -> None:
        self.reason = reason
        self.location = location
        self.code = code
        super().__init__(f"{location}: {reason}" if location else reason)


class MessageIgnored(Exception):
    """A well-formed message that carries no care-transition event. Answered positively (HL7
    AA), stored as filtered, routed nowhere. (An ADT^A08 without PV2-9 is not one: it is a
    demographic update, and the routing file decides whether it is forwarded.)

    Deliberately not a :class:`MessageRejected`: nothing is wrong with the message, and the
    sender must not be told to fix it or to send it again.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
