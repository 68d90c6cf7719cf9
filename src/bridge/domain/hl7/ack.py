"""HL7 v2 acknowledgements: building the ACK the bridge answers with, reading one it receives.

The ACK names the bridge as its sender (MSH-3/4, configurable) and the message's sender as its
receiver (MSH-5/6), echoes MSH-10 in MSA-2, keeps the sender's version and echoes its character
set (MSH-18; the caller encodes the text in it, see :mod:`bridge.domain.hl7.charsets`). Where
the text goes depends on the version: MSA-3 and ERR-1 (ELD) up to v2.4, ERR-2 (ERL), ERR-3
(table 0357), ERR-4 and ERR-8 from v2.5. Personnummer are masked in every text it writes.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal, NamedTuple, get_args

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.charsets import CHARACTER_SETS
from bridge.domain.hl7.er7 import parse_er7
from bridge.domain.hl7.header import Hl7Header
from bridge.domain.hl7.profile import DEFAULT_VERSION, version_key
from bridge.domain.hl7.segments import esc, join_fields
from bridge.domain.hl7.timestamps import STOCKHOLM, format_ts
from bridge.domain.identifiers import mask_in_text

AckCode = Literal["AA", "AE", "AR", "CA", "CE", "CR"]
ACK_CODES: frozenset[str] = frozenset(get_args(AckCode))

# HL7 table 0357, the codes the bridge uses.
ERROR_CODES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "207": "Application internal error",
}
_REJECTION_CODES = {
    "structure": "100",
    "too-long": "100",
    "required": "101",
    "value": "102",
    "invalid": "102",
    "code-invalid": "103",
    "not-supported": "103",
    "forbidden": "207",
}
_FIELD_ERROR_CODES = {"MSH-9": "200", "MSH-11": "202", "MSH-12": "203"}
_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d{1,4})\])?(?:-(\d{1,4})(?:-(\d{1,4}))?)?\Z")


class AckIdentity(NamedTuple):
    """Who answers: MSH-3 (sending application) and MSH-4 (sending facility) of every ACK."""

    application: str = "BRIDGE"
    facility: str = "REGION-GOTLAND"


BRIDGE_IDENTITY = AckIdentity()


class AckResult(NamedTuple):
    """What a received ACK says: MSA-1, MSA-2 and the first human-readable text in it."""

    code: str
    control_id: str
    text: str


def build_ack(
    header: Hl7Header | None,
    code: AckCode,
    text: str = "",
    error_location: str | None = None,
    now: datetime | None = None,
    control_id: str | None = None,
    *,
    error_code: str | None = None,
    identity: AckIdentity = BRIDGE_IDENTITY,
    ack_types: tuple[str, str] = ("", ""),
) -> str:
    """An ER7 ACK answering the message ``header`` was read from (None: nothing was readable).

    ``error_code`` is the table 0357 code for ERR-3; when not given it is worked out from
    ``code`` and ``error_location`` (see :func:`error_code_for` to get it from a rejection).
    ``ack_types`` fills MSH-15/16 of the ACK itself: empty for an answer on the connection,
    ("AL", "NE") for an application ACK the bridge sends as a message of its own.
    """
    version = _ack_version(header)
    key = version_key(version) or (2, 5)
    segments = [
        _msh(header, version, key, now, control_id, identity, ack_types),
        _msa(header, code, text, key),
    ]
    if code not in ("AA", "CA"):
        hl7_code = error_code or _derived_error_code(code, error_location)
        segments.append(_err(key, hl7_code, text, error_location))
    return "\r".join(segments) + "\r"


def ack_for_rejection(
    header: Hl7Header | None,
    rejection: MessageRejected,
    *,
    code: AckCode = "AR",
    now: datetime | None = None,
    control_id: str | None = None,
    identity: AckIdentity = BRIDGE_IDENTITY,
    ack_types: tuple[str, str] = ("", ""),
) -> str:
    """The ACK for a message decoding rejected: its location, reason and 0357 code."""
    return build_ack(
        header,
        code,
        str(rejection),
        rejection.location,
        now,
        control_id,
        error_code=error_code_for(rejection),
        identity=identity,
        ack_types=ack_types,
    )


def error_code_for(rejection: MessageRejected) -> str:
    """The HL7 table 0357 code for a rejection."""
    by_field = _FIELD_ERROR_CODES.get(rejection.location or "")
    return by_field or _REJECTION_CODES.get(rejection.code, "102")


def _derived_error_code(code: str, location: str | None) -> str:
    """Without a rejection to go by: application error, unsupported type/version, bad segment
    (a location naming only a segment) or bad field."""
    if code in ("AE", "CE") or location is None:
        return "207"
    if location in _FIELD_ERROR_CODES:
        return _FIELD_ERROR_CODES[location]
    match = _LOCATION.match(location)
    return "100" if match is not None and match.group(3) is None else "102"


def _ack_version(header: Hl7Header | None) -> str:
    if header is not None:
        key = version_key(header.version)
        if key is not None and key[0] == 2:
            return header.version.strip()
    return DEFAULT_VERSION


def _msh(
    header: Hl7Header | None,
    version: str,
    key: tuple[int, ...],
    now: datetime | None,
    control_id: str | None,
    identity: AckIdentity,
    ack_types: tuple[str, str],
) -> str:
    incoming = header or Hl7Header()
    trigger = incoming.trigger_event
    trigger = trigger if trigger.isascii() and trigger.isalnum() and len(trigger) <= 3 else ""
    # Before v2.3.1 MSH-9 has no third component (message structure).
    structure = "^ACK" if key >= (2, 3, 1) else ""
    message_type = f"ACK^{trigger}{structure}" if trigger else "ACK"
    processing = incoming.processing_id[:1]
    fields = [
        esc(identity.application),
        esc(identity.facility),
        _hd(incoming.sending_application),
        _hd(incoming.sending_facility),
        format_ts(now or datetime.now(STOCKHOLM).replace(microsecond=0)),
        "",
        message_type,
        esc(control_id or uuid.uuid4().hex[:20]),
        processing if processing in ("P", "T", "D") else "P",
        version,
    ]
    # Echo only a set the bridge writes in; an answer to any other goes out in UTF-8 saying so
    # by leaving MSH-18 empty (its ERR names MSH-18).
    charset = incoming.charset if incoming.charset.upper() in CHARACTER_SETS else ""
    if any(ack_types) or charset:
        fields += ["", "", ack_types[0], ack_types[1], "", esc(charset)]
    return "MSH|^~\\&|" + join_fields(fields)


def _hd(parts: tuple[str, ...]) -> str:
    return join_fields([esc(part) for part in parts], "^")


def _msa(header: Hl7Header | None, code: str, text: str, key: tuple[int, ...]) -> str:
    control_id = header.control_id if header is not None else ""
    message = esc(mask_in_text(text)) if key < (2, 5) else ""
    return join_fields(["MSA", code, esc(control_id), message])


def _err(key: tuple[int, ...], hl7_code: str, text: str, location: str | None) -> str:
    name = ERROR_CODES.get(hl7_code, "")
    segment, sequence, field, component = _location_parts(location)
    if key < (2, 5):
        eld = [segment, sequence, field, f"{hl7_code}&{esc(name)}&HL70357"]
        return "ERR|" + join_fields(eld, "^")
    erl = join_fields([segment, sequence, field, "1" if component else "", component], "^")
    fields = ["ERR", "", erl, f"{hl7_code}^{esc(name)}^HL70357", "E", "", "", ""]
    fields.append(esc(mask_in_text(text)))
    return join_fields(fields)


def _location_parts(location: str | None) -> tuple[str, str, str, str]:
    """``OBX[2]-5-1`` → segment, occurrence, field, component; all "" for no HL7 position."""
    match = _LOCATION.match(location or "")
    if match is None:
        return "", "", "", ""
    segment, occurrence, field, component = match.groups()
    return segment, occurrence or "1", field or "", component or ""


def parse_ack(text: str) -> AckResult:
    """Read an ACK: MSA-1 code, MSA-2 control id, and MSA-3, else ERR-8, else the error name."""
    message = parse_er7(text)
    msa = message.segment("MSA")
    if msa is None:
        raise MessageRejected("an acknowledgement needs an MSA segment", "MSA", code="required")
    code = msa.get(1).strip().upper()
    if code not in ACK_CODES:
        raise MessageRejected(
            "MSA-1 must be AA, AE, AR, CA, CE or CR", "MSA-1", code="code-invalid"
        )
    reason = msa.get(3).strip()
    err = message.segment("ERR")
    if not reason and err is not None:
        reason = err.first(8).text.strip() or err.get(3, 2).strip() or err.get(1, 4, 2).strip()
    return AckResult(code, msa.get(2).strip(), reason)
