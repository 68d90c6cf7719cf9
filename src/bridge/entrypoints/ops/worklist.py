"""``/ops/worklist``: the care coordinator's day (Swedish first, English second), its JSON
beside it, and the same as FHIR ``Task`` resources for a municipality's own system.

Only the ``coordinator`` role passes (not viewers, operators or admins: they see the masked
operations dashboard, never identified patients), and only the stays of the coordinator's own
organisation and units (docs/coordinators.md). Every read is audited with the stays it showed.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from bridge.domain.fhir.codes import CANONICAL_BASE
from bridge.domain.reported_deviations import CATEGORIES, DeviationEntry
from bridge.domain.worklist import DueItem, WorklistItem
from bridge.entrypoints.ops.context import Ops, form
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.care.reported_deviations import Report, ReportError
from bridge.service.care.worklist import CoordinatorScope, WorklistRow
from bridge.service.operations.users import Role

FHIR_JSON = "application/fhir+json"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
RULE_LABELS = {
    "admission-notice-24h": "Inskrivningsmeddelande inom 24 h / Admission notice within 24 h",
    "sip-invitation-3d": "Kallelse till SIP inom 3 dagar / SIP call within 3 days",
    "discharge-ready-before-discharge": "Utskrivningsklar före utskrivning / "
    "Discharge-ready before discharge",
    "discharge-notice-same-day": "Utskrivningsmeddelande samma dag / Discharge notice same day",
}
OWNER_LABELS = {"ward": "Avdelningen / Ward", "primary-care": "Vårdcentralen / Primary care"}


def worklist_router(ops: Ops) -> APIRouter:
    router = APIRouter()
    page_guard = _coordinator(ops, page=True)
    api_guard = _coordinator(ops, page=False)
    page_user = Annotated[tuple[SignedIn, CoordinatorScope], Depends(page_guard)]
    api_user = Annotated[tuple[SignedIn, CoordinatorScope], Depends(api_guard)]

    @router.get("/worklist", include_in_schema=False)
    async def worklist_page(
        request: Request, user: page_user, unit: str = "", reported: str = ""
    ) -> Response:
        who, scope = user
        rows = await _read(ops, who, scope, unit, "page")
        organisation = ops.bridge.organisations.get(scope.organisation)
        assert organisation is not None  # the guard refused an unknown one
        units = [u for u in organisation.units if not scope.units or u.hsa_id in scope.units]
        return ops.render(
            "worklist.html",
            request,
            who,
            rows=rows,
            organisation=organisation,
            units=units,
            unit=unit,
            now=ops.bridge.clock.now(),
            rule_label=lambda rule: RULE_LABELS.get(rule, rule),
            owner_label=lambda role: OWNER_LABELS.get(role, role),
            due=sum(len(row.item.due) for row in rows),
            overdue=sum(len(row.item.overdue) for row in rows),
            changed=sum(bool(row.item.changes) for row in rows),
            categories=CATEGORIES,
            all_units=[u for o in ops.bridge.organisations.organisations for u in o.units],
            reported=reported,
        )

    @router.get("/api/worklist", tags=["coordinators"])
    async def worklist_json(user: api_user, unit: str = "") -> dict[str, Any]:
        """The coordinator's open stays (identified), each with due and overdue deadlines."""
        who, scope = user
        rows = await _read(ops, who, scope, unit, "json")
        return {
            "organisation": scope.organisation,
            "generated_at": ops.bridge.clock.now().isoformat(),
            "stays": [_json(row) for row in rows],
        }

    @router.get("/api/worklist/fhir/Task", tags=["coordinators"])
    async def worklist_tasks(user: api_user, unit: str = "") -> Response:
        """The due and overdue deadlines as a FHIR R4 searchset Bundle of ``Task``."""
        who, scope = user
        rows = await _read(ops, who, scope, unit, "fhir")
        now = ops.bridge.clock.now()
        entries = [
            {"fullUrl": f"urn:uuid:{row.item.episode_id}-{due.rule_id}", "resource": task}
            for row in rows
            for due in row.item.items
            for task in [_task(row, due, now)]
        ]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": now.isoformat(),
            "total": len(entries),
            "entry": entries,
        }
        return JSONResponse(bundle, media_type=FHIR_JSON)

    @router.post("/worklist/deviations", include_in_schema=False)
    async def report_from_page(request: Request, user: page_user) -> Response:
        try:
            body = ReportRequest.model_validate(await form(request))
        except ValidationError as error:
            raise HTTPException(400, str(error.errors()[0]["msg"])) from None
        entry = await _report(ops, user, body)
        return RedirectResponse(f"/ops/worklist?reported={entry.id}", status_code=303)

    @router.post("/api/worklist/deviations", tags=["coordinators"], status_code=201)
    async def report_deviation(body: ReportRequest, user: api_user) -> dict[str, Any]:
        """Report a collaboration deviation about one of your stays; routed to the responsible
        unit's inbox (docs/coordinators.md). Needs the ``X-CSRF-Token`` header."""
        entry = await _report(ops, user, body)
        return {"id": entry.id, "category": entry.category, "unit": entry.unit_hsa_id}

    return router


class ReportRequest(BaseModel):
    episode_id: str = Field(min_length=1, max_length=36)
    category: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=64, description="Responsible unit (HSA-id).")
    description: str = Field(min_length=1, max_length=4000)


async def _report(
    ops: Ops, user: tuple[SignedIn, CoordinatorScope], body: ReportRequest
) -> DeviationEntry:
    who, scope = user
    visible = {row.item.episode_id for row in await ops.bridge.worklist.rows(scope)}
    if body.episode_id not in visible:
        raise HTTPException(404, "no such stay on your worklist")
    report = Report(body.category, body.unit, body.description, who.user.username, body.episode_id)
    try:
        return await ops.bridge.reported_deviations.report(report)
    except ReportError as error:
        raise HTTPException(400, str(error)) from None


def _coordinator(
    ops: Ops, *, page: bool
) -> Callable[[Request], Awaitable[tuple[SignedIn, CoordinatorScope]]]:
    """A signed-in coordinator bound to an organisation; anyone else is refused."""
    signed_in = ops.guard(Role.COORDINATOR, page=page)

    async def dependency(request: Request) -> tuple[SignedIn, CoordinatorScope]:
        who = await signed_in(request)
        if who.user.role is not Role.COORDINATOR:
            raise HTTPException(403, "the worklist is for the coordinator role only")
        scope = await ops.bridge.worklist.scope(who.user.username)
        if scope is None or ops.bridge.organisations.get(scope.organisation) is None:
            raise HTTPException(
                403, "you are not bound to an organisation (bridge coordinators bind)"
            )
        return who, scope

    return dependency


async def _read(
    ops: Ops, who: SignedIn, scope: CoordinatorScope, unit: str, view: str
) -> list[WorklistRow]:
    rows = await ops.bridge.worklist.rows(scope, unit or None)
    await ops.record(
        who,
        "worklist_read",
        view=view,
        organisation=scope.organisation,
        unit=unit or None,
        episodes=[row.item.episode_id for row in rows],
    )
    return rows


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _due(item: DueItem) -> dict[str, Any]:
    return {
        "rule": item.rule_id,
        "title": item.title,
        "due_at": item.due_at.isoformat(),
        "overdue": item.overdue,
        "owner": item.owner_role,
        "owner_unit": {"hsa_id": item.owner.hsa_id, "name": item.owner.name}
        if item.owner
        else None,
    }


def _json(row: WorklistRow) -> dict[str, Any]:
    item: WorklistItem = row.item
    upcoming = item.next_deadline
    return {
        "episode_id": item.episode_id,
        "patient": {
            "name": row.identity.name,
            "personnummer": row.identity.personnummer,
            "protected_identity": row.identity.protected,
        },
        "unit": {"hsa_id": item.unit.hsa_id, "name": item.unit.name} if item.unit else None,
        "admitted_at": _time(item.admitted_at),
        "discharge_ready_at": _time(item.discharge_ready_at),
        "sip_due_at": _time(item.sip_due_at),
        "sip_called_at": _time(item.sip_called_at),
        "payment_days": item.payment_days,
        "next_deadline": _due(upcoming) if upcoming else None,
        "due": [_due(due) for due in item.due],
        "overdue": [_due(due) for due in item.overdue],
        "changes_since_yesterday": [
            {"event": change.event.value, "at": change.at.isoformat()} for change in item.changes
        ],
        "new_since_yesterday": item.new_since_yesterday,
    }


def _task(row: WorklistRow, due: DueItem, now: datetime) -> dict[str, Any]:
    """One deadline as a FHIR R4 Task: what must be done by when, by whom, for whom."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"{row.item.episode_id}-{due.rule_id}"[:64],
        "status": "ready",
        "businessStatus": {"text": "overdue" if due.overdue else "due"},
        "intent": "order",
        "code": {
            "coding": [
                {"system": f"{CANONICAL_BASE}CodeSystem/deadline-rule", "code": due.rule_id}
            ],
            "text": due.title,
        },
        "for": {
            "identifier": {
                "system": row.identity.system,
                "value": row.identity.personnummer,
            },
            "display": row.identity.name,
        },
        "encounter": {"display": row.item.episode_id},
        "authoredOn": now.isoformat(),
        "restriction": {"period": {"end": due.due_at.isoformat()}},
    }
    if due.owner is not None and due.owner.hsa_id:
        task["owner"] = {
            "identifier": {"system": HSA_SYSTEM, "value": due.owner.hsa_id},
            "display": due.owner.name or due.owner.hsa_id,
        }
    return task
