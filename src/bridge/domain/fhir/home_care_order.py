"""Home-care orders (beställning/remiss av hemsjukvård/hemtjänst) ⇄ FHIR ServiceRequest + Task.

The ServiceRequest says what is ordered (service, description, requester, performer); the Task
carries the workflow: ``status`` requested → accepted / rejected / on-hold (more information
needed), ``statusReason`` the reason. Both carry the order id (docs/orders.md).
"""

from __future__ import annotations

from typing import Any

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import format_datetime, parse_datetime
from bridge.domain.fhir.entries import EntryIds, Json, bridge_identifier, unit_reference
from bridge.domain.fhir.reader import (
    code_text,
    obj,
    opt_list,
    opt_obj,
    opt_str,
    quoted,
    required_identifier,
)
from bridge.domain.model import CareUnit, HomeCareOrder, OrderService, OrderStatus

SERVICE_DISPLAY: dict[str, str] = {"hemsjukvard": "Hemsjukvård", "hemtjanst": "Hemtjänst"}
_STATUSES: dict[str, OrderStatus] = {
    "requested": "requested",
    "accepted": "accepted",
    "rejected": "rejected",
    "on-hold": "on-hold",
}
_SERVICES: dict[str, OrderService] = {"hemsjukvard": "hemsjukvard", "hemtjanst": "hemtjanst"}
# ServiceRequest.status for each Task.status (the request lives on unless refused).
_REQUEST_STATUS = {
    "requested": "active",
    "accepted": "active",
    "rejected": "revoked",
    "on-hold": "on-hold",
}


def write_order(order: HomeCareOrder, ids: EntryIds) -> list[Json]:
    """The ServiceRequest and the Task (the Task last: the message's focus)."""
    requester = unit_reference("Organization", order.requester)
    request: Json = {
        "resourceType": "ServiceRequest",
        "id": ids["ServiceRequest"],
        "meta": {"profile": [codes.SERVICE_REQUEST_PROFILE]},
        "identifier": [bridge_identifier(codes.HOMECARE_ORDER_ID_SYSTEM, order.order_id)],
        "status": _REQUEST_STATUS[order.status],
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": codes.HOMECARE_SERVICE_SYSTEM,
                        "code": order.service,
                        "display": SERVICE_DISPLAY[order.service],
                    }
                ]
            }
        ],
        "subject": ids.reference("Patient"),
        "requester": requester,
    }
    task: Json = {
        "resourceType": "Task",
        "id": ids["Task"],
        "meta": {"profile": [codes.TASK_PROFILE]},
        "identifier": [bridge_identifier(codes.HOMECARE_ORDER_ID_SYSTEM, order.order_id)],
        "status": order.status,
        "intent": "order",
        "focus": ids.reference("ServiceRequest"),
        "for": ids.reference("Patient"),
        "requester": requester,
    }
    if order.description:
        request["note"] = [{"text": order.description}]
    if order.authored_at is not None:
        request["authoredOn"] = task["authoredOn"] = format_datetime(order.authored_at)
    if order.performer is not None:
        request["performer"] = [unit_reference("Organization", order.performer)]
        task["owner"] = unit_reference("Organization", order.performer)
    if order.reason:
        task["statusReason"] = {"text": order.reason}
    return [request, task]


def read_order(index: BundleIndex, task_at: int | None, request_at: int | None) -> HomeCareOrder:
    """The order in a Task and/or its ServiceRequest; raises :class:`MessageRejected`."""
    if task_at is None and request_at is None:
        raise MessageRejected(
            "a home-care order message needs a Task and a ServiceRequest entry",
            "Bundle.entry",
            code="required",
        )
    task = index.resources[task_at] if task_at is not None else {}
    task_path = index.path(task_at) if task_at is not None else "Task"
    if request_at is None and task_at is not None:
        request_at = _focus(index, task, task_path)
    request = index.resources[request_at] if request_at is not None else {}
    request_path = index.path(request_at) if request_at is not None else "ServiceRequest"
    holder, holder_path = (task, task_path) if task_at is not None else (request, request_path)
    status = opt_str(task, "status", task_path) if task_at is not None else "requested"
    if status not in _STATUSES:
        raise MessageRejected(
            f"a home-care order's Task.status is requested, accepted, rejected or on-hold, "
            f"not {quoted(status)}",
            f"{task_path}.status",
        )
    requester = _unit(index, task, task_path, "requester") or _unit(
        index, request, request_path, "requester"
    )
    if requester is None:
        raise MessageRejected(
            "a home-care order needs its requester (the referring unit's Organization)",
            f"{holder_path}.requester",
            code="required",
        )
    performer = _unit(index, task, task_path, "owner") or _performer(index, request, request_path)
    authored = opt_str(holder, "authoredOn", holder_path) or opt_str(
        request, "authoredOn", request_path
    )
    return HomeCareOrder(
        order_id=required_identifier(
            holder, holder_path, codes.HOMECARE_ORDER_ID_SYSTEM, "a home-care order"
        ),
        status=_STATUSES[status],
        service=_service(request, request_path),
        requester=requester,
        performer=performer,
        description=_note(request, request_path),
        authored_at=None if authored is None else parse_datetime(authored, f"{holder_path}"),
        reason=_reason(task, task_path),
    )


def _focus(index: BundleIndex, task: Json, path: str) -> int | None:
    focus = opt_obj(task, "focus", path)
    target = None if focus is None else opt_str(focus, "reference", f"{path}.focus")
    found = None if target is None else index.resolve(target)
    if found is not None and index.type_of(found) == "ServiceRequest":
        return found
    return index.first_of("ServiceRequest")


def _unit(index: BundleIndex, resource: Json, path: str, key: str) -> CareUnit | None:
    reference = opt_obj(resource, key, path)
    if reference is None:
        return None
    unit = index.unit(reference, f"{path}.{key}", "Organization")
    if unit is None or (unit.hsa_id is None and unit.name is None):
        return None
    return unit


def _performer(index: BundleIndex, request: Json, path: str) -> CareUnit | None:
    performers = opt_list(request, "performer", path)
    if not performers:
        return None
    reference = obj(performers[0], f"{path}.performer[0]")
    unit = index.unit(reference, f"{path}.performer[0]", "Organization")
    return unit if unit is not None and (unit.hsa_id or unit.name) else None


def _service(request: Json, path: str) -> OrderService:
    for position, concept in enumerate(opt_list(request, "category", path)):
        concept_path = f"{path}.category[{position}]"
        for index, coding in enumerate(
            opt_list(obj(concept, concept_path), "coding", concept_path)
        ):
            coding_path = f"{concept_path}.coding[{index}]"
            coding = obj(coding, coding_path)
            if opt_str(coding, "system", coding_path) != codes.HOMECARE_SERVICE_SYSTEM:
                continue
            code = opt_str(coding, "code", coding_path)
            if code not in _SERVICES:
                raise MessageRejected(
                    f"the ordered service is hemsjukvard or hemtjanst, not {quoted(code)}",
                    f"{coding_path}.code",
                )
            return _SERVICES[code]
    return "hemsjukvard"


def _note(request: Json, path: str) -> str | None:
    notes: list[Any] = opt_list(request, "note", path)
    texts = [
        opt_str(obj(note, f"{path}.note[{i}]"), "text", f"{path}.note[{i}]")
        for i, note in enumerate(notes)
    ]
    joined = "\n".join(text for text in texts if text)
    if joined:
        return joined
    return code_text([request["code"]], f"{path}.code") if "code" in request else None


def _reason(task: Json, path: str) -> str | None:
    reason = opt_obj(task, "statusReason", path)
    if reason is None:
        return None
    return code_text([reason], f"{path}.statusReason")
