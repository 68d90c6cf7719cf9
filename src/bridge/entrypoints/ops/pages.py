"""The dashboard's pages (server-rendered HTML; a little JavaScript refreshes live parts)."""

# No `from __future__ import annotations`: FastAPI must see the local Annotated aliases
# (viewer, operator, admin) as objects, not as names it cannot resolve.
import secrets
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from bridge.domain.time_range import FIRST_YEAR, LAST_YEAR
from bridge.entrypoints.ops.context import TIMEZONE, Ops, form
from bridge.entrypoints.ops.security import LOGIN_COOKIE, SESSION_COOKIE, SignedIn, safe_next
from bridge.entrypoints.ops.sign_in_limits import audit_refusal, client_address
from bridge.entrypoints.ops.timeline import stages, steps
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
from bridge.service.operations.users import Role, UserError
from bridge.store.tables import DeliveryRow, MessageRow

EVENT_TYPES = (
    "admission",
    "estimated-discharge-changed",
    "discharge-ready",
    "discharge-ready-withdrawn",
    "discharge",
    "discharge-cancelled",
    "admission-cancelled",
    "transfer",
    "receipt",
)


def pages_router(ops: Ops) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=True))]
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=True))]
    admin = Annotated[SignedIn, Depends(ops.guard(Role.ADMIN, page=True))]
    db, clock = ops.bridge.db, ops.bridge.clock

    @router.get("/login")
    async def login_page(request: Request, next: str = "/ops/", error: str = "") -> Response:
        problem = "Sign-in with the identity provider failed." if error == "oidc" else None
        return await _login_form(ops, request, next, error=problem)

    @router.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        target = safe_next(fields.get("next"))
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not secrets.compare_digest(expected, fields.get("csrf", "")):
            return await _login_form(ops, request, target, "The form expired. Try again.")
        username = fields.get("username", "").strip().lower()[:64]
        address = client_address(request)
        locked = await ops.limits.locked(username, address)
        if locked is not None:
            await audit_refusal(db, clock, "sign_in_locked", username, address, "form")
            minutes = max(1, round(locked.retry_after / 60))
            refusal = await _login_form(
                ops,
                request,
                target,
                f"Too many failed sign-ins. Try again in {minutes} min.",
                status_code=429,
            )
            refusal.headers.update(locked.headers)
            return refusal
        user = await ops.users.authenticate(username, fields.get("password", ""))
        if user is None:
            await ops.limits.failed(username, address)
            await audit_refusal(db, clock, "sign_in_failed", username, address, "form")
            return await _login_form(
                ops, request, target, "Wrong user name or password.", status_code=401
            )
        await ops.limits.succeeded(username)
        cookie, session = await ops.keys.issue(user.username, via="form")
        who = SignedIn(user, session, await ops.keys.csrf_token(session))
        await ops.record(who, "signed_in", address=address)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=ops.keys.lifetime,
            path="/ops",
            httponly=True,
            samesite="strict",
            secure=ops.secure_cookies,
        )
        response.delete_cookie(LOGIN_COOKIE, path="/ops")
        return response

    @router.post("/logout")
    async def logout(who: viewer) -> Response:
        await ops.keys.revoke(who.session)
        await ops.record(who, "signed_out")
        response = RedirectResponse("/ops/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/ops")
        return response

    @router.get("/")
    async def overview_page(request: Request, who: viewer) -> Response:
        view = await overview(ops.bridge.db, ops.bridge.clock, ops.destinations)
        ready = await ops.bridge.readiness()
        paused = {s.name: s for s in await ops.bridge.pauses.list() if s.paused}
        done = request.query_params.get("done")
        return ops.render(
            "overview.html", request, who, view=view, ready=ready, paused=paused, done=done
        )

    @router.get("/partials/overview")
    async def overview_partial(request: Request, who: viewer) -> Response:
        view = await overview(ops.bridge.db, ops.bridge.clock, ops.destinations)
        ready = await ops.bridge.readiness()
        paused = {s.name: s for s in await ops.bridge.pauses.list() if s.paused}
        return ops.render("_overview.html", request, who, view=view, ready=ready, paused=paused)

    @router.get("/messages")
    async def messages_page(
        request: Request,
        who: viewer,
        q: str = "",
        event_type: str = "",
        received_from: str = "",
        received_to: str = "",
        patient: str = "",
        status: str = "",
        outcome: str = "",
    ) -> Response:
        where = MessageFilter(
            reference=q or None,
            event_code=event_type or None,
            received_from=_local_time(received_from),
            received_to=_local_time(received_to),
            patient=patient or None,
            status=status or None,
            outcome=outcome if outcome in OUTCOMES else None,
        )
        error = None
        results = []
        try:
            results = await search_messages(ops.bridge.db, where, ops.bridge.settings.patient_key)
        except PatientNotRecognised as problem:
            error = f"Patient identifier not recognised: {problem}"
        if where.patient or where.reference:
            await ops.record(who, "messages_searched", **where.describe(), found=len(results))
        return ops.render(
            "messages.html",
            request,
            who,
            results=results,
            form=request.query_params,
            event_types=EVENT_TYPES,
            outcomes=OUTCOMES,
            error=error,
        )

    @router.get("/outcomes/{outcome_id}")
    async def outcome_page(request: Request, outcome_id: str, who: viewer) -> Response:
        """A filtered or rejected message: why, and its payload (personnummer, addresses
        masked); opening it is audited like opening a message."""
        async with ops.bridge.db.session() as session:
            detail = await outcome_detail(session, outcome_id)
        if detail is None:
            raise HTTPException(404, "no such message")
        await ops.record(who, "message_viewed", message_id=outcome_id)
        return ops.render("outcome.html", request, who, outcome=detail)

    @router.get("/messages/{message_id}")
    async def message_page(request: Request, message_id: str, who: viewer) -> Response:
        history = await message_history(ops.bridge.db, message_id)
        if history is None:
            raise HTTPException(404, "no such message")
        async with ops.bridge.db.session() as session:
            canonical = await session.scalar(
                select(MessageRow.canonical).where(MessageRow.id == message_id)
            )
            deliveries = (
                await session.scalars(
                    select(DeliveryRow).where(DeliveryRow.message_id == message_id)
                )
            ).all()
        await ops.record(who, "message_viewed", message_id=message_id)
        timeline, reads = steps(history)
        expects = any(d.receipt_state is not None for d in deliveries)
        return ops.render(
            "message.html",
            request,
            who,
            history=history,
            patient=patient_of(canonical or "{}"),
            timeline=timeline,
            reads=reads,
            stages=stages(history, expects),
            dead=[d for d in deliveries if d.status == "dead"],
            delivered=[d for d in deliveries if d.status == "delivered"],
            done=request.query_params.get("done"),
        )

    @router.get("/partials/messages/{message_id}/timeline")
    async def timeline_partial(request: Request, message_id: str, who: viewer) -> Response:
        history = await message_history(ops.bridge.db, message_id)
        if history is None:
            raise HTTPException(404, "no such message")
        async with ops.bridge.db.session() as session:
            states = (
                await session.scalars(
                    select(DeliveryRow.receipt_state).where(DeliveryRow.message_id == message_id)
                )
            ).all()
        timeline, _ = steps(history)
        expects = any(state is not None for state in states)
        return ops.render(
            "_timeline.html",
            request,
            who,
            history=history,
            timeline=timeline,
            stages=stages(history, expects),
        )

    @router.get("/dead-letters")
    async def dead_letters_page(
        request: Request, who: viewer, destination: str = "", reason: str = ""
    ) -> Response:
        where = _dead_filter(destination, reason)
        letters = await ops.bridge.dead_letters.list(where, limit=200)
        total = await ops.bridge.dead_letters.count(where)
        return ops.render(
            "dead_letters.html",
            request,
            who,
            groups=await ops.bridge.dead_letters.groups(where),
            letters=letters,
            total=total,
            destinations=ops.destinations,
            reasons=[r.value for r in DeadReason],
            form=request.query_params,
            done=request.query_params.get("done"),
        )

    @router.get("/dead-letters/{delivery_id}")
    async def dead_letter_page(request: Request, delivery_id: str, who: viewer) -> Response:
        try:
            letter = await ops.bridge.dead_letters.show(delivery_id, actor=who.user.username)
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            async with ops.bridge.db.session() as session:
                message_id = await session.scalar(
                    select(DeliveryRow.message_id).where(DeliveryRow.id == delivery_id)
                )
            return RedirectResponse(
                f"/ops/messages/{message_id}?done=no-longer-dead-{settled.status}", 303
            )
        return ops.render("dead_letter.html", request, who, letter=letter)

    @router.post("/dead-letters/{delivery_id}/replay")
    async def replay(request: Request, delivery_id: str, who: operator) -> Response:
        fields = await form(request)
        message_id = await _message_of(ops, delivery_id)
        try:
            await ops.bridge.dead_letters.replay(
                delivery_id, actor=who.user.username, reason=fields.get("reason", "")[:500]
            )
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            return RedirectResponse(
                f"/ops/messages/{message_id}?done=no-longer-dead-{settled.status}", 303
            )
        return RedirectResponse(f"/ops/messages/{message_id}?done=replayed", 303)

    @router.post("/dead-letters/{delivery_id}/discard")
    async def discard(request: Request, delivery_id: str, who: operator) -> Response:
        fields = await form(request)
        reason = fields.get("reason", "").strip()[:500]
        if not reason:
            return RedirectResponse(f"/ops/dead-letters/{delivery_id}?error=reason", 303)
        message_id = await _message_of(ops, delivery_id)
        try:
            await ops.bridge.dead_letters.discard(
                delivery_id, actor=who.user.username, reason=reason
            )
        except DeadLetterNotFound:
            raise HTTPException(404, "no such delivery") from None
        except NotADeadLetter as settled:
            return RedirectResponse(
                f"/ops/messages/{message_id}?done=no-longer-dead-{settled.status}", 303
            )
        return RedirectResponse(f"/ops/messages/{message_id}?done=discarded", 303)

    @router.post("/dead-letters/replay")
    async def replay_matching(request: Request, who: operator) -> Response:
        fields = await form(request)
        where = _dead_filter(fields.get("destination", ""), fields.get("reason", ""))
        replayed = await ops.bridge.dead_letters.replay_matching(
            where, actor=who.user.username, reason="bulk replay from the dashboard"
        )
        return RedirectResponse(f"/ops/dead-letters?done=replayed-{len(replayed)}", 303)

    @router.get("/users")
    async def users_page(request: Request, who: admin) -> Response:
        users = await ops.users.list()
        return ops.render(
            "users.html",
            request,
            who,
            users=users,
            roles=[r.label for r in Role],
            done=request.query_params.get("done"),
            error=request.query_params.get("error"),
        )

    @router.post("/users")
    async def add_user(request: Request, who: admin) -> Response:
        fields = await form(request)
        try:
            await ops.users.add(
                fields.get("username", ""),
                fields.get("password", ""),
                Role.parse(fields.get("role", "viewer")),
                actor=who.user.username,
            )
        except (UserError, ValueError) as problem:
            return RedirectResponse(f"/ops/users?error={quote(str(problem))}", 303)
        return RedirectResponse("/ops/users?done=added", 303)

    @router.post("/users/{username}/role")
    async def set_role(request: Request, username: str, who: admin) -> Response:
        fields = await form(request)
        try:
            role = Role.parse(fields.get("role", ""))
            if username == who.user.username and role < Role.ADMIN:
                raise UserError("you cannot take away your own admin role")
            await ops.users.set_role(username, role, actor=who.user.username)
        except (UserError, ValueError) as problem:
            return RedirectResponse(f"/ops/users?error={quote(str(problem))}", 303)
        return RedirectResponse("/ops/users?done=role", 303)

    return router


async def _login_form(
    ops: Ops, request: Request, target: str, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = ops.render(
        "login.html",
        request,
        None,
        status_code=status_code,
        csrf=token,
        next=safe_next(target),
        error=error,
        no_users=await ops.users.count() == 0,
        oidc=ops.oidc.config.display_name if ops.oidc else None,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=ops.secure_cookies,
    )
    return response


async def _message_of(ops: Ops, delivery_id: str) -> str:
    async with ops.bridge.db.session() as session:
        message_id = await session.scalar(
            select(DeliveryRow.message_id).where(DeliveryRow.id == delivery_id)
        )
    if message_id is None:
        raise HTTPException(404, "no such delivery")
    return message_id


def _dead_filter(destination: str, reason: str) -> DeadLetterFilter:
    return DeadLetterFilter(
        destination=destination or None,
        reason=DeadReason(reason) if reason in {r.value for r in DeadReason} else None,
    )


def _local_time(text: str) -> datetime | None:
    """A ``datetime-local`` form value, read as Swedish time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=TIMEZONE)
    except ValueError:
        return None
    # A year Python cannot move to UTC (0001, 9999) would fail the query: ignored like junk.
    return moment if FIRST_YEAR <= moment.year <= LAST_YEAR else None
