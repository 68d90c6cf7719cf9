"""``/ops/api/``: the dashboard's data as JSON, for scripts and other tools.

Sign in with ``POST /ops/api/session`` (a JSON user name and password): it sets the session
cookie and returns the CSRF token that calls changing something send as ``X-CSRF-Token``;
``DELETE /ops/api/session`` signs out (the cookie stops working everywhere). Failed sign-ins
are audited and limited like the form's (429 with ``Retry-After`` during a lockout).
"""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from bridge.entrypoints.ops.context import Ops
from bridge.entrypoints.ops.security import SESSION_COOKIE, SignedIn
from bridge.entrypoints.ops.sign_in_limits import audit_refusal, client_address
from bridge.entrypoints.query_types import MAX_OFFSET, AwareTime
from bridge.service.delivery.dead_letters import (
    DeadLetterFilter,
    DeadLetterNotFound,
    DeadReason,
    NotADeadLetter,
)
from bridge.service.operations.history import message_history
from bridge.service.operations.message_outcomes import outcome_detail
from bridge.service.operations.operations import (
    OUTCOMES,
    MessageFilter,
    PatientNotRecognised,
    overview,
    patient_of,
    search_messages,
)
from bridge.service.operations.users import Role
from bridge.store.tables import AlertIncidentRow, MessageRow


class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class DiscardRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ReplayRequest(BaseModel):
    reason: str = Field(default="", max_length=500)


class BulkReplayRequest(BaseModel):
    destination: str | None = None
    reason: DeadReason | None = None
    event_type: str | None = None
    dead_after: AwareTime | None = None
    dead_before: AwareTime | None = None
    note: str = Field(default="bulk replay via the API", max_length=500)


def api_router(ops: Ops) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["ops"])
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=False))]
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=False))]
    admin = Annotated[SignedIn, Depends(ops.guard(Role.ADMIN, page=False))]

    @router.post("/session", summary="Sign in: sets the session cookie, returns the CSRF token")
    async def sign_in(
        credentials: Credentials, request: Request, response: Response
    ) -> dict[str, str]:
        username = credentials.username.strip().lower()
        address = client_address(request)
        db, clock = ops.bridge.db, ops.bridge.clock
        locked = await ops.limits.locked(username, address)
        if locked is not None:
            await audit_refusal(db, clock, "sign_in_locked", username, address, "api")
            raise HTTPException(
                429, "too many failed sign-ins; try again later", headers=locked.headers
            )
        user = await ops.users.authenticate(username, credentials.password)
        if user is None:
            await ops.limits.failed(username, address)
            await audit_refusal(db, clock, "sign_in_failed", username, address, "api")
            raise HTTPException(401, "wrong user name or password")
        await ops.limits.succeeded(username)
        cookie, session = await ops.keys.issue(user.username, via="api")
        who = SignedIn(user, session, await ops.keys.csrf_token(session))
        await ops.record(who, "signed_in", via="api", address=address)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=ops.keys.lifetime,
            path="/ops",
            httponly=True,
            samesite="strict",
            secure=ops.secure_cookies,
        )
        return {"username": user.username, "role": user.role.label, "csrf_token": who.csrf}

    @router.delete("/session", summary="Sign out: the session ends here and wherever copied")
    async def sign_out(who: viewer, response: Response) -> dict[str, str]:
        await ops.keys.revoke(who.session)
        await ops.record(who, "signed_out", via="api")
        response.delete_cookie(SESSION_COOKIE, path="/ops")
        return {"signed_out": who.user.username}

    @router.get("/overview", summary="Per destination: queue, age, rate, failures, receipts")
    async def get_overview(who: viewer) -> dict[str, Any]:
        view = await overview(ops.bridge.db, ops.bridge.clock, ops.destinations)
        return {
            "at": view.at,
            "ready": await ops.bridge.readiness(),
            "accepted_last_hour": view.accepted_last_hour,
            "rejected_last_hour": view.rejected_last_hour,
            "destinations": [asdict(d) | {"health": d.health} for d in view.destinations],
            "incidents": [asdict(i) for i in view.incidents],
        }

    @router.get("/messages", summary="Search messages (audited when by patient or id)")
    async def get_messages(
        who: viewer,
        reference: str | None = None,
        event_type: str | None = None,
        received_from: Annotated[AwareTime | None, Query(alias="from")] = None,
        received_to: Annotated[AwareTime | None, Query(alias="to")] = None,
        patient: str | None = None,
        status: str | None = None,
        outcome: Annotated[str | None, Query(pattern="^(" + "|".join(OUTCOMES) + ")$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        where = MessageFilter(
            reference, event_type, received_from, received_to, patient, status, outcome
        )
        try:
            found = await search_messages(
                ops.bridge.db, where, ops.bridge.settings.patient_key, limit=limit
            )
        except PatientNotRecognised as problem:
            raise HTTPException(422, f"patient identifier not recognised: {problem}") from None
        if patient or reference:
            await ops.record(who, "messages_searched", **where.describe(), found=len(found))
        return [asdict(m) | {"control_id": m.control_id} for m in found]

    @router.get("/outcomes/{outcome_id}", summary="One filtered or rejected message (audited)")
    async def get_outcome(outcome_id: str, who: viewer) -> dict[str, Any]:
        async with ops.bridge.db.session() as session:
            detail = await outcome_detail(session, outcome_id)
        if detail is None:
            raise HTTPException(404, "no such message")
        await ops.record(who, "message_viewed", message_id=outcome_id, via="api")
        return detail

    @router.get("/messages/{message_id}", summary="One message, its patient and timeline")
    async def get_message(message_id: str, who: viewer) -> dict[str, Any]:
        history = await message_history(ops.bridge.db, message_id)
        if history is None:
            raise HTTPException(404, "no such message")
        async with ops.bridge.db.session() as session:
            canonical = await session.scalar(
                select(MessageRow.canonical).where(MessageRow.id == message_id)
            )
        await ops.record(who, "message_viewed", message_id=message_id, via="api")
        return asdict(history) | {"patient": patient_of(canonical or "{}")}

    @router.get("/dead-letters", summary="Dead letters (patients masked)")
    async def get_dead_letters(
        who: viewer,
        destination: str | None = None,
        reason: DeadReason | None = None,
        event_type: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        where = DeadLetterFilter(destination=destination, reason=reason, event_code=event_type)
        letters = await ops.bridge.dead_letters.list(where, limit=limit, offset=offset)
        return {
            "total": await ops.bridge.dead_letters.count(where),
            "items": [asdict(letter) for letter in letters],
        }

    @router.get("/dead-letters/{delivery_id}", summary="One dead letter with payload (audited)")
    async def get_dead_letter(delivery_id: str, who: viewer) -> dict[str, Any]:
        try:
            letter = await ops.bridge.dead_letters.show(delivery_id, actor=who.user.username)
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            raise HTTPException(409, str(settled)) from None
        return asdict(letter)

    @router.post("/dead-letters/{delivery_id}/replay", summary="Replay one (operator)")
    async def post_replay(
        delivery_id: str, who: operator, body: ReplayRequest | None = None
    ) -> dict[str, str]:
        try:
            await ops.bridge.dead_letters.replay(
                delivery_id, actor=who.user.username, reason=body.reason if body else ""
            )
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            raise HTTPException(409, str(settled)) from None
        return {"delivery_id": delivery_id, "status": "pending"}

    @router.post("/dead-letters/{delivery_id}/discard", summary="Discard one (operator)")
    async def post_discard(delivery_id: str, body: DiscardRequest, who: operator) -> dict[str, str]:
        try:
            await ops.bridge.dead_letters.discard(
                delivery_id, actor=who.user.username, reason=body.reason
            )
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            raise HTTPException(409, str(settled)) from None
        except ValueError as invalid:  # e.g. a reason of blanks only (found by schemathesis)
            raise HTTPException(422, str(invalid)) from None
        return {"delivery_id": delivery_id, "status": "discarded"}

    @router.post("/dead-letters/replay", summary="Replay every matching dead letter (operator)")
    async def post_replay_matching(body: BulkReplayRequest, who: operator) -> dict[str, Any]:
        where = DeadLetterFilter(
            destination=body.destination,
            reason=body.reason,
            event_code=body.event_type,
            dead_after=body.dead_after,
            dead_before=body.dead_before,
        )
        replayed = await ops.bridge.dead_letters.replay_matching(
            where, actor=who.user.username, reason=body.note
        )
        return {"replayed": replayed}

    @router.get("/incidents", summary="Alert incidents, open first, then the latest resolved")
    async def get_incidents(
        who: viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        async with ops.bridge.db.session() as session:
            rows = (
                await session.scalars(
                    select(AlertIncidentRow)
                    .order_by(AlertIncidentRow.resolved_at.is_not(None), AlertIncidentRow.id.desc())
                    .limit(limit)
                )
            ).all()
        return [
            {
                "key": row.key,
                "kind": row.kind,
                "summary": row.summary,
                "opened_at": row.opened_at,
                "resolved_at": row.resolved_at,
                "resolution": row.resolution,
                "alert_sent_at": row.alert_sent_at,
                "recovery_sent_at": row.recovery_sent_at,
            }
            for row in rows
        ]

    @router.get("/users", summary="Users and roles (admin)")
    async def get_users(who: admin) -> list[dict[str, Any]]:
        return [
            {
                "username": u.username,
                "role": u.role.label,
                "disabled": u.disabled,
                "created_at": u.created_at,
            }
            for u in await ops.users.list()
        ]

    return router
