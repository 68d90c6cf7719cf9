"""HL7 v2 ACK matching rules: what an answer says, and how it differs from what was expected.

Every mismatch names the rule and the field (``MSA-1``, ``MSA-2``, ``ERR``), so a failed
verification reads as "MSA-1: expected AA, got AR (ERR PID-3: …)" rather than a diff.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.contracts.model import AckExpectation
from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import Segment, parse_er7
from bridge.domain.hl7.profile import version_key


@dataclass(frozen=True)
class AckFacts:
    """The parts of an ACK the contracts talk about."""

    code: str
    control_id: str
    error_location: str | None
    error_code: str | None
    text: str

    def summary(self) -> str:
        where = f" at {self.error_location}" if self.error_location else ""
        text = (
            self.text.removeprefix(f"{self.error_location}: ") if self.error_location else self.text
        )
        why = f": {text}" if text else ""
        return f"{self.code}{where}{why}"


def read_ack(text: str) -> AckFacts:
    """Read an ER7 ACK; :class:`MessageRejected` when it is not one."""
    message = parse_er7(text.strip("\x0b\x1c\r\n "))
    msa = message.segment("MSA")
    if msa is None:
        raise MessageRejected("the answer has no MSA segment", "MSA", code="required")
    modern = (version_key(message.msh.get(12)) or (2, 5)) >= (2, 5)
    err = message.segment("ERR")
    location, code, reason = _error(err, modern) if err is not None else (None, None, "")
    return AckFacts(
        code=msa.get(1).strip(),
        control_id=msa.get(2).strip(),
        error_location=location,
        error_code=code,
        text=msa.get(3).strip() or reason,
    )


def _error(err: Segment, modern: bool) -> tuple[str | None, str | None, str]:
    """(location as SEG-field, 0357 code, text) from ERR-2/3/8 (v2.5+) or ERR-1 (older)."""
    if modern:
        segment, field = err.get(2, 1), err.get(2, 3)
        code, text = err.get(3, 1), err.first(8).text.strip()
    else:
        segment, field = err.get(1, 1), err.get(1, 3)
        code, text = err.get(1, 4, 1), ""
    location = f"{segment}-{field}" if segment and field else (segment or None)
    return location, code or None, text


def ack_mismatches(expect: AckExpectation, facts: AckFacts, sent_control_id: str) -> list[str]:
    """Every rule the answer breaks, each naming the field; [] when it matches."""
    problems: list[str] = []
    if facts.code != expect.ack:
        problems.append(f"MSA-1: expected {expect.ack}, got {facts.summary()}")
    if expect.control_id == "echo" and facts.control_id != sent_control_id:
        problems.append(
            f"MSA-2: expected the request's MSH-10 {sent_control_id!r}, got {facts.control_id!r}"
        )
    if expect.error_location is not None and facts.error_location != expect.error_location:
        problems.append(
            f"ERR location: expected {expect.error_location}, got {facts.error_location or 'none'}"
        )
    if expect.error_code is not None and facts.error_code != expect.error_code:
        problems.append(
            f"ERR code (table 0357): expected {expect.error_code}, got {facts.error_code or 'none'}"
        )
    if expect.text_contains and expect.text_contains.lower() not in facts.text.lower():
        wanted = expect.text_contains
        problems.append(f"error text: expected it to mention {wanted!r}, got {facts.text!r}")
    return problems
