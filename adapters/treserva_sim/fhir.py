"""Reading a FHIR R4 message Bundle and writing the answers; plain values, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]


class InvalidBundleError(Exception):
    """The posted body is not a message Bundle the simulator can file (answer 400)."""

    def __init__(self, reason: str, location: str) -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"{location}: {reason}")


@dataclass(frozen=True)
class Notice:
    """What the simulator files about one posted message."""

    idempotency_key: str
    event_code: str
    patient_identifier: str | None
    header: JsonObject
    bundle: JsonObject


def _object(value: object, location: str) -> JsonObject:
    if not isinstance(value, dict):
        raise InvalidBundleError("must be a JSON object", location)
    return value


def _text(value: object, location: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidBundleError("must be a non-empty string", location)
    return value


def resources(bundle: JsonObject, resource_type: str) -> list[JsonObject]:
    """Every resource of one type in the bundle's entries, in order."""
    entries = bundle.get("entry")
    found: list[JsonObject] = []
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
            found.append(resource)
    return found


def _message_header(bundle: JsonObject) -> JsonObject:
    if bundle.get("resourceType") != "Bundle":
        raise InvalidBundleError("resourceType must be Bundle", "Bundle.resourceType")
    if bundle.get("type") != "message":
        raise InvalidBundleError("a message Bundle must have type 'message'", "Bundle.type")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InvalidBundleError("a message Bundle needs entries", "Bundle.entry")
    header = _object(_object(entries[0], "Bundle.entry[0]").get("resource"), "Bundle.entry[0]")
    if header.get("resourceType") != "MessageHeader":
        raise InvalidBundleError("the first entry must be a MessageHeader", "Bundle.entry[0]")
    _text(header.get("id"), "MessageHeader.id")
    return header


def _first_patient_identifier(bundle: JsonObject) -> str | None:
    for patient in resources(bundle, "Patient"):
        for identifier in patient.get("identifier") or []:
            if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
                return str(identifier["value"])
    return None


def _bundle_identifier(bundle: JsonObject) -> str | None:
    identifier = bundle.get("identifier")
    value = identifier.get("value") if isinstance(identifier, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def read_notice(body: object, idempotency_header: str | None) -> Notice:
    """The notice in a posted body; raises :class:`InvalidBundleError` naming the bad element.

    The idempotency key is the ``Idempotency-Key`` header, else ``Bundle.identifier.value``,
    else ``MessageHeader.id``.
    """
    bundle = _object(body, "Bundle")
    header = _message_header(bundle)
    coding = _object(header.get("eventCoding"), "MessageHeader.eventCoding")
    event_code = _text(coding.get("code"), "MessageHeader.eventCoding.code")
    header_key = (idempotency_header or "").strip() or None
    key = header_key or _bundle_identifier(bundle) or str(header["id"])
    return Notice(key, event_code, _first_patient_identifier(bundle), header, bundle)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def response_bundle(request_header: JsonObject, endpoint: str, code: str = "ok") -> JsonObject:
    """A response message Bundle acknowledging ``request_header`` (MessageHeader.response)."""
    header_id = str(uuid.uuid4())
    header: JsonObject = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": request_header.get("eventCoding"),
        "source": {"name": "Treserva simulator", "endpoint": endpoint},
        "response": {"identifier": request_header["id"], "code": code},
    }
    source = request_header.get("source")
    if isinstance(source, dict) and isinstance(source.get("endpoint"), str):
        header["destination"] = [{"endpoint": source["endpoint"]}]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "timestamp": _now(),
        "entry": [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}],
    }


def operation_outcome(code: str, diagnostics: str, location: str | None = None) -> JsonObject:
    """An OperationOutcome with one error issue (``code`` from the FHIR issue-type set)."""
    issue: JsonObject = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if location:
        issue["expression"] = [location]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
