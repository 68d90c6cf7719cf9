"""The combined deviation list (automatic and reported), counted per category, and its export
for a regional deviation system: ``/ops/api/deviations/combined``,
``/ops/deviations/export.csv`` and ``/ops/deviations/export.json`` (schema:
docs/coordinators.md). Patients appear masked only; reading is audited.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response

from bridge.domain.episodes import STOCKHOLM
from bridge.domain.reported_deviations import DeviationEntry, per_category, to_csv, to_json
from bridge.entrypoints.ops.context import Ops
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.operations.users import Role


def deviation_export_router(ops: Ops) -> APIRouter:
    router = APIRouter()
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=False))]
    reader = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=True))]

    async def entries(who: SignedIn, since: str, until: str, view: str) -> list[DeviationEntry]:
        found = await ops.bridge.reported_deviations.entries(_moment(since), _moment(until))
        await ops.record(who, "deviations_exported", view=view, count=len(found))
        return found

    @router.get("/api/deviations/combined", tags=["deviations"])
    async def combined(who: viewer, since: str = "", until: str = "") -> dict[str, Any]:
        """Automatic and staff-reported deviations in one list, and their count per category."""
        found = await entries(who, since, until, "json")
        return {
            "per_category": per_category(found),
            "deviations": [
                {**entry.__dict__, "detected_at": entry.detected_at.isoformat()} for entry in found
            ],
        }

    @router.get("/deviations/export.csv", tags=["deviations"])
    async def export_csv(who: reader, since: str = "", until: str = "") -> Response:
        found = await entries(who, since, until, "csv")
        return Response(
            to_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="deviations.csv"'},
        )

    @router.get("/deviations/export.json", tags=["deviations"])
    async def export_json(who: reader, since: str = "", until: str = "") -> Response:
        found = await entries(who, since, until, "json-export")
        return Response(to_json(found), media_type="application/json")

    return router


def _moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=STOCKHOLM)
