"""Which acknowledgement a sender gets, and when: HL7 v2 chapter 2's processing rules. Pure.

Original mode (MSH-15 and MSH-16 both empty), one answer on the connection:

- **AA** once the message is committed (stored and routed, a repeat, or stored and filtered);
- **AE** for an error in the message's content, naming the field (ERR-2) with its table 0357
  code (ERR-3): the sender must fix the message, resending it unchanged will not help;
- **AR** when the message cannot be taken for reasons unrelated to its content: unsupported
  message type (MSH-9), processing id (MSH-11), version (MSH-12) or character set (MSH-18),
  and whenever the bridge cannot commit it now (database or broker down): resend later.

Enhanced mode (MSH-15 or MSH-16 given), the accept acknowledgement on the connection:

- **CA** once committed. A message with an error in its content is committed too (stored as
  rejected, for the operators), so it gets CA and the error travels in the application ACK (AE),
  as HL7 places content validation at the application level. When the sender has no return
  address for application ACKs, the error could reach it nowhere else, so it gets **CE** with
  the ERR segment instead;
- **CR** for an unsupported message type, processing id, version or character set;
- **CE** when the bridge cannot commit it now (resend later).

MSH-15 decides whether the accept ACK is sent at all (table 0155: AL always, NE never, ER only
when it is not CA, SU only when it is CA; empty in enhanced mode: AL). MSH-16 decides the same
for the application ACK (empty: NE), which is sent later, as a message of its own, to the
source's return address (:mod:`bridge.service.delivery.application_acks`).

A source may declare the ``legacy`` convention in the routing file: the bridge then answers as
it did before issue 11 (AR/CR for every rejection, AE/CE when it cannot commit, an accept ACK
always), for a sender built against that behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.ack import BRIDGE_IDENTITY, AckCode, AckIdentity
from bridge.domain.hl7.header import Hl7Header
from bridge.domain.routing import Acknowledgements, RoutingTable, Source
from bridge.domain.sender_identity import FORBIDDEN

ACK_CONDITIONS = frozenset({"AL", "NE", "ER", "SU"})
"""HL7 table 0155."""

_HEADER_FIELDS = frozenset({"MSH-9", "MSH-11", "MSH-12"})


class Convention(StrEnum):
    STANDARD = "standard"
    LEGACY = "legacy"


class Verdict(StrEnum):
    """What became of a message, as far as its acknowledgement is concerned."""

    COMMITTED = "committed"
    CONTENT_ERROR = "content-error"
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"


def verdict_of_rejection(rejection: MessageRejected) -> Verdict:
    """An unsupported type, processing id, version or character set, or a content error."""
    if rejection.location in _HEADER_FIELDS or rejection.code == FORBIDDEN:
        # A sender refused for its identity (docs/security.md) is no content error either.
        return Verdict.UNSUPPORTED
    if rejection.location == "MSH-18" and rejection.code == "not-supported":
        return Verdict.UNSUPPORTED
    return Verdict.CONTENT_ERROR


def accept_code(
    header: Hl7Header | None,
    verdict: Verdict,
    convention: Convention = Convention.STANDARD,
    *,
    application_ack_possible: bool = False,
) -> AckCode:
    """The MSA-1 of the answer on the connection."""
    enhanced = header is not None and header.enhanced_mode
    if convention is Convention.LEGACY:
        return _legacy_code(verdict, enhanced)
    if not enhanced:
        return _ORIGINAL[verdict]
    if verdict is Verdict.CONTENT_ERROR:
        return "CA" if application_ack_possible else "CE"
    return _ENHANCED[verdict]


_ORIGINAL: dict[Verdict, AckCode] = {
    Verdict.COMMITTED: "AA",
    Verdict.CONTENT_ERROR: "AE",
    Verdict.UNSUPPORTED: "AR",
    Verdict.UNAVAILABLE: "AR",
}
_ENHANCED: dict[Verdict, AckCode] = {
    Verdict.COMMITTED: "CA",
    Verdict.CONTENT_ERROR: "CE",
    Verdict.UNSUPPORTED: "CR",
    Verdict.UNAVAILABLE: "CE",
}


def _legacy_code(verdict: Verdict, enhanced: bool) -> AckCode:
    if verdict is Verdict.COMMITTED:
        return "CA" if enhanced else "AA"
    if verdict is Verdict.UNAVAILABLE:
        return "CE" if enhanced else "AE"
    return "CR" if enhanced else "AR"


def accept_ack_wanted(
    header: Hl7Header | None, code: AckCode, convention: Convention = Convention.STANDARD
) -> bool:
    """Whether MSH-15 asks for this accept ACK (original mode: always)."""
    if header is None or not header.enhanced_mode or convention is Convention.LEGACY:
        return True
    return _wanted(header.accept_ack_type or "AL", positive=code == "CA")


def application_ack_wanted(header: Hl7Header | None, code: AckCode) -> bool:
    """Whether MSH-16 asks for an application ACK with this code (original mode: never)."""
    if header is None or not header.enhanced_mode:
        return False
    return _wanted(header.application_ack_type or "NE", positive=code == "AA")


def _wanted(condition: str, *, positive: bool) -> bool:
    condition = condition.upper()
    if condition == "NE":
        return False
    if condition == "ER":
        return not positive
    if condition == "SU":
        return positive
    return True  # AL, and a value outside table 0155 (refused at decoding, answered anyway)


@dataclass(frozen=True)
class AckContext:
    """What the answer depends on besides the message: who the bridge is, who the sources are."""

    identity: AckIdentity = BRIDGE_IDENTITY
    routing: RoutingTable | None = None

    def acknowledgements(self, header: Hl7Header | None) -> Acknowledgements:
        """The sending source's settings (the defaults for a sender no source claims)."""
        source = self._source(header)
        return source.acknowledgements if source is not None else Acknowledgements()

    def source_name(self, header: Hl7Header | None) -> str | None:
        source = self._source(header)
        return source.name if source is not None else None

    def _source(self, header: Hl7Header | None) -> Source | None:
        if header is None or self.routing is None:
            return None
        facility = _hd_name(header.sending_facility)
        application = _hd_name(header.sending_application)
        return self.routing.source_named(facility, application)


def _hd_name(parts: tuple[str, ...]) -> str | None:
    for part in parts[:2]:
        if part.strip():
            return part.strip()
    return None
