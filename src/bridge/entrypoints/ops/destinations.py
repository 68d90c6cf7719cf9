"""Pause and resume a destination from the dashboard and ``/ops/api/destinations`` (operators;
audited with the signed-in user; service/delivery/pauses.py says what a pause does), and the
dead letters counted per cause (``/ops/api/dead-letter-groups``)."""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from bridge.entrypoints.ops.context import Ops, form
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.delivery.dead_letters import DeadLetterFilter, DeadReason
from bridge.service.delivery.pauses import PauseConflict, UnknownDestination
from bridge.service.operations.users import Role


class PauseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ResumeRequest(BaseModel):
    reason: str = Field(default="", max_length=500)


def destinations_router(ops: Ops) -> APIRouter:
    router = APIRouter()
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=False))]
    api_operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=False))]
    page_operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=True))]
    pauses = ops.bridge.pauses

    @router.get("/api/destinations", tags=["ops"], summary="Destinations: paused, backlog")
    async def get_destinations(who: viewer) -> list[dict[str, Any]]:
        return [asdict(state) for state in await pauses.list()]

    @router.get("/api/dead-letter-groups", tags=["ops"], summary="Dead letters counted per cause")
    async def get_dead_letter_groups(
        who: viewer, destination: str | None = None, reason: DeadReason | None = None
    ) -> list[dict[str, Any]]:
        where = DeadLetterFilter(destination=destination, reason=reason)
        return [asdict(group) for group in await ops.bridge.dead_letters.groups(where)]

    @router.post(
        "/api/destinations/{name}/pause", tags=["ops"], summary="Pause one (operator, audited)"
    )
    async def api_pause(name: str, body: PauseRequest, who: api_operator) -> dict[str, str]:
        try:
            await pauses.pause(name, actor=who.user.username, reason=body.reason)
        except UnknownDestination as error:
            raise HTTPException(404, str(error)) from None
        except PauseConflict as error:
            raise HTTPException(409, str(error)) from None
        ops.bridge.relay.pauses_changed()
        return {"destination": name, "state": "paused"}

    @router.post(
        "/api/destinations/{name}/resume", tags=["ops"], summary="Resume one (operator, audited)"
    )
    async def api_resume(
        name: str, who: api_operator, body: ResumeRequest | None = None
    ) -> dict[str, Any]:
        try:
            waiting = await pauses.resume(
                name, actor=who.user.username, reason=body.reason if body else ""
            )
        except UnknownDestination as error:
            raise HTTPException(404, str(error)) from None
        except PauseConflict as error:
            raise HTTPException(409, str(error)) from None
        return {"destination": name, "state": "active", "waiting": waiting}

    @router.post("/destinations/{name}/pause", include_in_schema=False)
    async def page_pause(request: Request, name: str, who: page_operator) -> Response:
        fields = await form(request)
        reason = fields.get("reason", "").strip()[:500]
        if not reason:
            return RedirectResponse("/ops/?done=pause-needs-a-reason", 303)
        try:
            await pauses.pause(name, actor=who.user.username, reason=reason)
        except (UnknownDestination, PauseConflict) as error:
            return RedirectResponse(f"/ops/?done={quote(str(error))}", 303)
        ops.bridge.relay.pauses_changed()
        return RedirectResponse(f"/ops/?done=paused-{quote(name)}", 303)

    @router.post("/destinations/{name}/resume", include_in_schema=False)
    async def page_resume(request: Request, name: str, who: page_operator) -> Response:
        await form(request)
        try:
            await pauses.resume(name, actor=who.user.username, reason="from the dashboard")
        except (UnknownDestination, PauseConflict) as error:
            return RedirectResponse(f"/ops/?done={quote(str(error))}", 303)
        return RedirectResponse(f"/ops/?done=resumed-{quote(name)}", 303)

    return router
