"""Reading the bridge's HL7 v2 ACK: just enough to know the outcome (MSA-1, MSA-2, MSA-3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

ACCEPTED = frozenset({"AA", "CA"})


class AckUnreadableError(ValueError):
    """The answer is not an HL7 v2 message with an MSA segment."""


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED


def parse_ack(message: str) -> Ack:
    """The MSA of an ER7 ACK; delimiters are read from its MSH, as the standard intends."""
    segments = [s for s in re.split(r"[\r\n]+", message.strip("\x0b\x1c\r\n ")) if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        raise AckUnreadableError("the answer does not start with an MSH segment")
    field_separator = segments[0][3]
    for line in segments[1:]:
        fields = line.split(field_separator)
        if fields[0] == "MSA":
            fields += [""] * (4 - len(fields))
            component_separator = segments[0][4]
            code = fields[1].split(component_separator)[0]
            if not code:
                raise AckUnreadableError("MSA-1 (acknowledgment code) is empty")
            return Ack(code, fields[2], fields[3])
    raise AckUnreadableError("the answer has no MSA segment")
