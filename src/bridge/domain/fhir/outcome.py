"""Answers to a FHIR message: OperationOutcome and response message Bundles, built and read.

A response Bundle's MessageHeader.response names the request's MessageHeader.id and carries
``ok``, ``transient-error`` (send it again later) or ``fatal-error`` (never send it again as it
is); when not ok, an OperationOutcome entry says why (``response.details``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from bridge import __version__
from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.fhir.decode import parse_body
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str, quoted
from bridge.domain.fhir.receipt import outcome_text
from bridge.domain.identifiers import mask_in_text
from bridge.domain.model import EVENT_CODE_SYSTEM, EventCode

ResponseCode = Literal["ok", "transient-error", "fatal-error"]
Severity = Literal["fatal", "error", "warning", "information"]

RESPONSE_CODES: frozenset[str] = frozenset(get_args(ResponseCode))
TRANSIENT_ISSUE_CODES = frozenset(
    {"transient", "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled"}
)
"""OperationOutcome issue types after which sending the same message again may succeed."""

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{codes.CANONICAL_BASE}response")


def operation_outcome(
    reason: str, location: str | None, code: str = "invalid", severity: Severity = "error"
) -> dict[str, Any]:
    """One issue: the reason a person can act on, and the FHIRPath where the problem is.

    Personnummer-shaped numbers in the reason are masked: outcomes end up in logs.
    """
    text = mask_in_text(reason)
    issue: Json = {"severity": severity, "code": code, "details": {"text": text}}
    if location:
        issue["expression"] = [location]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def response_bundle(
    request_header_id: str,
    code: ResponseCode,
    *,
    source_endpoint: str,
    now: datetime,
    outcome: dict[str, Any] | None = None,
    event: EventCode = EventCode.RECEIPT,
    source_name: str = "bridge",
) -> dict[str, Any]:
    """A response message answering the request whose MessageHeader.id is ``request_header_id``.

    ``event`` should repeat the request's event code when it is known; ``receipt`` otherwise.
    ``outcome`` is required unless ``code`` is ``ok``.
    """
    if code not in RESPONSE_CODES:
        raise ValueError(f"response code must be one of {sorted(RESPONSE_CODES)}")
    if not codes.FHIR_ID.fullmatch(request_header_id):
        raise ValueError("request_header_id must be a FHIR id (the request's MessageHeader.id)")
    if outcome is None and code != "ok":
        raise ValueError("a transient-error or fatal-error response needs an OperationOutcome")
    seed = f"{request_header_id}|{code}|{format_datetime(now)}"
    header_id, bundle_id, outcome_id = (
        str(uuid.uuid5(_NAMESPACE, f"{seed}|{part}")) for part in ("header", "bundle", "outcome")
    )
    response: Json = {"identifier": request_header_id, "code": code}
    if outcome is not None:
        response["details"] = {"reference": f"urn:uuid:{outcome_id}"}
    header = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": {
            "system": EVENT_CODE_SYSTEM,
            "code": event.value,
            "display": codes.event_display(event),
        },
        "source": {
            "name": source_name,
            "software": "bridge",
            "version": __version__,
            "endpoint": source_endpoint,
        },
        "response": response,
    }
    entries: list[Json] = [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}]
    if outcome is not None:
        resource = {"resourceType": "OperationOutcome", "id": outcome_id, **outcome}
        entries.append({"fullUrl": f"urn:uuid:{outcome_id}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "identifier": {"system": codes.URI_SYSTEM, "value": f"urn:uuid:{bundle_id}"},
        "type": "message",
        "timestamp": format_datetime(now),
        "entry": entries,
    }


def parse_response(
    bundle_or_outcome: dict[str, Any] | bytes | str,
) -> tuple[ResponseCode, str]:
    """What a receiver answered: its response code and the text of its OperationOutcome.

    A bare OperationOutcome counts as ``fatal-error`` when an error issue is not of a transient
    kind, ``transient-error`` when every error is, and ``ok`` without errors. Raises
    :class:`MessageRejected` for anything that is neither a response Bundle nor an outcome.
    """
    answer = parse_body(bundle_or_outcome)
    resource_type = answer.get("resourceType")
    if resource_type == "OperationOutcome":
        return _outcome_code(answer), outcome_text(answer)
    if resource_type == "Bundle":
        return _bundle_response(answer)
    raise MessageRejected(
        f"expected a response Bundle or an OperationOutcome, got {quoted(resource_type)}", "Bundle"
    )


def _outcome_code(outcome: Json) -> ResponseCode:
    errors = [
        issue
        for issue in opt_list(outcome, "issue", "OperationOutcome")
        if isinstance(issue, dict) and issue.get("severity") in ("fatal", "error")
    ]
    if not errors:
        return "ok"
    if all(issue.get("code") in TRANSIENT_ISSUE_CODES for issue in errors):
        return "transient-error"
    return "fatal-error"


def _bundle_response(bundle: Json) -> tuple[ResponseCode, str]:
    entries = opt_list(bundle, "entry", "Bundle")
    if not entries:
        raise MessageRejected("not a response message: the Bundle has no entries", "Bundle.entry")
    header = obj(obj(entries[0], "Bundle.entry[0]").get("resource"), "Bundle.entry[0].resource")
    path = "Bundle.entry[0].resource.response"
    response = opt_obj(header, "response", "Bundle.entry[0].resource")
    if response is None or header.get("resourceType") != "MessageHeader":
        raise MessageRejected("not a response message: no MessageHeader.response", path)
    code = opt_str(response, "code", path)
    if code not in RESPONSE_CODES:
        raise MessageRejected(f"unknown response code {quoted(code)}", f"{path}.code")
    outcomes = [
        entry["resource"]
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == "OperationOutcome"
    ]
    text = outcome_text(outcomes[0]) if outcomes else ""
    return _RESPONSE_CODE[code], text


_RESPONSE_CODE: dict[str, ResponseCode] = {
    "ok": "ok",
    "transient-error": "transient-error",
    "fatal-error": "fatal-error",
}
