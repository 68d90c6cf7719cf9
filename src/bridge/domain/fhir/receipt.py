"""Receipts (kvittenser) in FHIR: ``MessageHeader.response`` and its OperationOutcome.

A receipt confirms that a notice is in the receiving system's worklist. ``response.identifier``
is the confirmed notice's ``MessageHeader.id``; the text, when there is one, is an
OperationOutcome that ``response.details`` points at. Any MessageHeader with a ``response`` is
read as a receipt, whatever its eventCoding: a response message *is* an acknowledgement.
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.entries import EntryIds, Json
from bridge.domain.fhir.reader import obj, opt_list, opt_obj, opt_str, quoted
from bridge.domain.identifiers import mask_in_text
from bridge.domain.model import Receipt, ReceiptCode

_CODES: dict[str, ReceiptCode] = {
    "ok": "ok",
    "transient-error": "transient-error",
    "fatal-error": "fatal-error",
}
_ISSUES: dict[ReceiptCode, tuple[str, str]] = {
    "ok": ("information", "informational"),
    "transient-error": ("error", "transient"),
    "fatal-error": ("error", "processing"),
}


def write_response(receipt: Receipt, ids: EntryIds) -> tuple[Json, list[Json]]:
    """``MessageHeader.response`` and the resources that go with it (an OperationOutcome)."""
    if not codes.FHIR_ID.fullmatch(receipt.responds_to):
        raise MessageRejected(
            "the confirmed message id is not a FHIR id, so FHIR cannot carry this receipt",
            "receipt.responds_to",
            code="not-supported",
        )
    response: Json = {"identifier": receipt.responds_to, "code": receipt.code}
    if receipt.text is None:
        return response, []
    severity, issue_type = _ISSUES[receipt.code]
    outcome = {
        "resourceType": "OperationOutcome",
        "id": ids["OperationOutcome"],
        "issue": [
            {
                "severity": severity,
                "code": issue_type,
                "details": {"text": mask_in_text(receipt.text)},
            }
        ],
    }
    response["details"] = ids.reference("OperationOutcome")
    return response, [outcome]


def read_receipt(index: BundleIndex, header: Json, header_path: str) -> Receipt:
    path = f"{header_path}.response"
    response = opt_obj(header, "response", header_path)
    if response is None:
        raise MessageRejected(
            "a receipt needs MessageHeader.response (identifier and code)", path, code="required"
        )
    identifier = opt_str(response, "identifier", path)
    if identifier is None:
        raise MessageRejected(
            "names no confirmed message (response.identifier)", f"{path}.identifier"
        )
    if len(identifier) > 199:
        raise MessageRejected("is longer than 199 characters", f"{path}.identifier")
    code = opt_str(response, "code", path)
    if code not in _CODES:
        raise MessageRejected(
            f"unknown response code {quoted(code)}: use ok, transient-error or fatal-error",
            f"{path}.code",
        )
    return Receipt(responds_to=identifier, code=_CODES[code], text=_text(index, response, path))


def _text(index: BundleIndex, response: Json, path: str) -> str | None:
    details = opt_obj(response, "details", path)
    target = None if details is None else opt_str(details, "reference", f"{path}.details")
    position = None if target is None else index.resolve(target)
    if position is None or index.type_of(position) != "OperationOutcome":
        position = index.first_of("OperationOutcome")
    if position is None:
        return None
    return outcome_text(index.resources[position]) or None


def outcome_text(outcome: Json) -> str:
    """The issues of an OperationOutcome as one line: text (at FHIRPath); …"""
    parts: list[str] = []
    for index, issue in enumerate(opt_list(outcome, "issue", "OperationOutcome")):
        path = f"OperationOutcome.issue[{index}]"
        issue = obj(issue, path)
        details = opt_obj(issue, "details", path) or {}
        text = opt_str(details, "text", f"{path}.details") or opt_str(issue, "diagnostics", path)
        text = text or opt_str(issue, "code", path) or "no details"
        where = [item for item in opt_list(issue, "expression", path) if isinstance(item, str)]
        parts.append(f"{text} (at {', '.join(where)})" if where else text)
    return "; ".join(parts)
