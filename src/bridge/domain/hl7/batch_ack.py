"""The answer to an HL7 v2 batch: a batch of ACKs (HL7 v2 chapter 2, batch protocol).

A request that is an FHS/BHS batch is answered by a batch of the same shape: FHS (when the
request had one), BHS naming the bridge as sender and the request's batch control id in BHS-12
(reference batch control id), one ACK per message in order, BTS-1 the count of ACKs, FTS-1 the
count of batches. Pure.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from bridge.domain.hl7.ack import BRIDGE_IDENTITY, AckIdentity
from bridge.domain.hl7.er7 import segment_lines
from bridge.domain.hl7.segments import esc, join_fields
from bridge.domain.hl7.timestamps import STOCKHOLM, format_ts

_BATCH_START = ("FHS", "BHS")


def is_batch(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n\x0b").startswith(_BATCH_START)


def batch_of_acks(
    request: str,
    acks: list[bytes],
    *,
    identity: AckIdentity = BRIDGE_IDENTITY,
    now: datetime | None = None,
) -> bytes:
    """Wrap the ACKs of a batch request's messages in FHS/BHS … BTS/FTS."""
    headers = {line[:3]: line for line in segment_lines(request) if line[:3] in _BATCH_START}
    stamp = format_ts(now or datetime.now(STOCKHOLM).replace(microsecond=0))
    lines: list[str] = []
    if "FHS" in headers:
        lines.append(_header("FHS", headers["FHS"], identity, stamp))
    lines.append(
        _header("BHS", headers.get("BHS", headers.get("FHS", "BHS|^~\\&")), identity, stamp)
    )
    opening = "\r".join(lines) + "\r"
    closing = f"BTS|{len(acks)}\r" + ("FTS|1\r" if "FHS" in headers else "")
    return opening.encode("ascii", errors="replace") + b"".join(acks) + closing.encode()


def _header(name: str, request_line: str, identity: AckIdentity, stamp: str) -> str:
    """Our FHS/BHS: from the bridge to the request's sender, referring to its control id."""
    separator = request_line[3] if len(request_line) > 3 else "|"
    fields = request_line.split(separator)  # fields[n - 1] is FHS-n / BHS-n (n ≥ 2)

    def field(number: int) -> str:
        return fields[number - 1] if number - 1 < len(fields) else ""

    ours = [
        esc(identity.application),
        esc(identity.facility),
        field(3),
        field(4),
        stamp,
        "",
        "",
        "",
        uuid.uuid4().hex[:20],
        field(11),
    ]
    return f"{name}|^~\\&|" + join_fields(ours)
