"""How the TakeCare simulator takes a message the bridge sends it: read, file, answer.

Deliberately its own small readers (not the bridge's): TakeCare is another system, and reading
the bridge's output independently is what catches the bridge's mistakes.

- HL7 v2 (MLLP or ``POST /hl7v2``): filed under sending facility + MSH-10; answered with an ACK
  (AA; AR when the message has no usable MSH, since nothing can be filed then).
- FHIR (``POST /fhir/$process-message``): filed under the Idempotency-Key header, else
  Bundle.identifier, else MessageHeader.id; answered with a response message Bundle.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain.identifiers import mask
from takecare_sim.er7 import STOCKHOLM, hl7_time
from takecare_sim.inbox import Inbox, InboxItem, now
from takecare_sim.masking import logger

Json = dict[str, Any]
_log = logger()


class UnreadableMessageError(ValueError):
    """Not a message the simulator can file; ``location`` names where it went wrong."""

    def __init__(self, reason: str, location: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.reason, self.location = reason, location


@dataclass(frozen=True)
class Er7Header:
    field_separator: str
    fields: list[str]

    def get(self, position: int) -> str:
        """MSH-n as the standard counts (MSH-1 is the separator itself)."""
        index = position - 1
        return self.fields[index] if 0 <= index < len(self.fields) else ""


def _segments(er7: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]+", er7.strip("\ufeff\x0b\x1c\r\n ")) if line]


def read_header(er7: str) -> Er7Header | None:
    lines = _segments(er7)
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        return None
    separator = lines[0][3]
    return Er7Header(separator, [separator, *lines[0][4:].split(separator)])


def _patient_identifier(er7: str, separator: str) -> str | None:
    for line in _segments(er7):
        if line.startswith("PID" + separator):
            fields = line.split(separator)
            first = fields[3].split("~")[0] if len(fields) > 3 else ""
            return first.split("^")[0] or None
    return None


def ack(header: Er7Header | None, code: str, text: str = "") -> str:
    """An original-mode ACK answering ``header`` (MSA-2 = its MSH-10)."""
    h = header or Er7Header("|", [])
    control_id = h.get(10)
    trigger = h.get(9).split("^")[1] if "^" in h.get(9) else ""
    fields = [
        "^~\\&", "TAKECARE", "VISBY_LAS", h.get(3), h.get(4), hl7_time(datetime.now(STOCKHOLM)),
        "", f"ACK^{trigger}^ACK", f"ACK{uuid.uuid4().hex[:16].upper()}", "P", h.get(12) or "2.5",
    ]  # fmt: skip
    msa = f"MSA|{code}|{control_id}" + (f"|{text}" if text else "")
    return "MSH|" + "|".join(fields) + "\r" + msa + "\r"


def receive_hl7(inbox: Inbox, er7: str, channel: str) -> str:
    """File one HL7 v2 message; the ACK to answer with."""
    header = read_header(er7)
    if header is None or not header.get(10):
        _log.info("rejected an HL7 v2 message via %s: no MSH with MSH-10", channel)
        return ack(header, "AR", "no MSH segment with a control id (MSH-10)")
    patient = _patient_identifier(er7, header.field_separator)
    kind = "^".join(header.get(9).split("^")[:2])
    key = f"{header.get(4)}|{header.get(10)}"
    item = InboxItem(key, kind, patient, now(), "hl7v2", channel, er7=er7)
    _log_filed(item, inbox.file(item))
    return ack(header, "AA")


def receive_fhir(inbox: Inbox, body: bytes, idempotency_key: str | None, endpoint: str) -> Json:
    """File one FHIR message Bundle; the response Bundle. Raises UnreadableMessageError."""
    bundle = _json_object(body)
    header = _message_header(bundle)
    coding = header.get("eventCoding")
    code = coding.get("code") if isinstance(coding, dict) else None
    if not isinstance(code, str) or not code:
        raise UnreadableMessageError("needs eventCoding.code", "MessageHeader.eventCoding")
    identifier = bundle.get("identifier")
    key = (
        (idempotency_key or "").strip()
        or (identifier.get("value") if isinstance(identifier, dict) else None)
        or str(header["id"])
    )
    item = InboxItem(str(key), code, _fhir_patient(bundle), now(), "fhir", "http", bundle=bundle)
    _log_filed(item, inbox.file(item))
    return response_bundle(header, endpoint)


def _log_filed(item: InboxItem, filed: bool) -> None:
    patient = mask(item.patient_identifier) if item.patient_identifier else "-"
    what = "filed" if filed else "duplicate"
    _log.info("%s %s for %s via %s", what, item.event_code, patient, item.channel)


def _json_object(body: bytes) -> Json:
    try:
        value = json.loads(body)
    except ValueError:
        raise UnreadableMessageError("body is not JSON", "Bundle") from None
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        raise UnreadableMessageError("must be a Bundle", "Bundle")
    if value.get("type") != "message":
        raise UnreadableMessageError("must be a message Bundle", "Bundle.type")
    return value


def _message_header(bundle: Json) -> Json:
    entries = bundle.get("entry")
    first = entries[0] if isinstance(entries, list) and entries else None
    header = first.get("resource") if isinstance(first, dict) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        raise UnreadableMessageError("the first entry must be a MessageHeader", "Bundle.entry[0]")
    if not isinstance(header.get("id"), str):
        raise UnreadableMessageError("needs an id", "MessageHeader.id")
    return header


def _fhir_patient(bundle: Json) -> str | None:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            for identifier in resource.get("identifier") or []:
                if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                    return str(identifier["value"])
    return None


def response_bundle(request_header: Json, endpoint: str) -> Json:
    """The answer to a FHIR message: MessageHeader.response (ok) naming the request."""
    header_id = str(uuid.uuid4())
    header: Json = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": request_header.get("eventCoding"),
        "source": {"name": "TakeCare simulator", "endpoint": endpoint},
        "response": {"identifier": request_header["id"], "code": "ok"},
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "timestamp": datetime.now(STOCKHOLM).isoformat(timespec="seconds"),
        "entry": [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}],
    }


def operation_outcome(error: UnreadableMessageError) -> Json:
    issue = {"severity": "error", "code": "invalid", "diagnostics": error.reason}
    return {
        "resourceType": "OperationOutcome",
        "issue": [{**issue, "expression": [error.location]}],
    }
