"""What every ops route needs: the bridge, users, session keys, templates, the guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bridge.bootstrap import Bridge
from bridge.entrypoints.ops.oidc import OidcClient, OidcConfig
from bridge.entrypoints.ops.security import (
    CSRF_HEADER,
    SessionKeys,
    SignedIn,
    signed_in,
    signing_keys,
)
from bridge.entrypoints.ops.sign_in_limits import SignInLimits
from bridge.service.operations import audit
from bridge.service.operations.users import Role, Users

HERE = Path(__file__).parent
TIMEZONE = ZoneInfo("Europe/Stockholm")


class Ops:
    def __init__(self, bridge: Bridge) -> None:
        settings = bridge.settings
        self.bridge = bridge
        self.users = Users(bridge.db, bridge.clock)
        self.keys = SessionKeys(
            bridge.db, bridge.clock, signing_keys(settings), settings.ops_session_hours
        )
        self.limits = SignInLimits(settings)
        oidc = OidcConfig.from_settings(settings)
        self.oidc = OidcClient(oidc) if oidc else None
        self.secure_cookies = settings.public_base_url.startswith("https://")
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(when=when, ago=ago, duration=duration)

    @property
    def destinations(self) -> list[str]:
        return [d.name for d in self.bridge.routing.destinations]

    def render(
        self,
        name: str,
        request: Request,
        who: SignedIn | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        page = self.templates.get_template(name).render(
            request=request, who=who, Role=Role, path=request.url.path, **context
        )
        return HTMLResponse(page, status_code=status_code, headers=_PAGE_HEADERS)

    def guard(self, role: Role, *, page: bool) -> Callable[[Request], Awaitable[SignedIn]]:
        """A dependency: the signed-in user, with at least ``role``.

        Pages send a visitor without a session to the sign-in page; the API answers 401.
        Changes (anything but GET) also need the session's CSRF token.
        """

        async def dependency(request: Request) -> SignedIn:
            who = await signed_in(request, self.keys, self.users)
            if who is None:
                if page and request.method == "GET":
                    # The path only: a query may hold a personnummer (a patient search).
                    target = quote(str(request.url.path), safe="/")
                    raise HTTPException(303, headers={"Location": f"/ops/login?next={target}"})
                raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Session"})
            if not who.user.may(role):
                raise HTTPException(403, f"your role ({who.user.role.label}) may not do this")
            if request.method != "GET":
                token = request.headers.get(CSRF_HEADER) or (await form(request)).get("csrf")
                if not await self.keys.csrf_ok(who.session, token):
                    raise HTTPException(403, "missing or wrong CSRF token; reload the page")
            return who

        return dependency

    async def record(self, who: SignedIn, action: str, **detail: Any) -> None:
        """An audit row for a person's read or action, in its own transaction."""
        async with self.bridge.db.session() as session, session.begin():
            audit.record(
                session,
                at=self.bridge.clock.now(),
                action=action,
                actor=who.user.username,
                **detail,
            )


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body, first value per field (read once, cached on the request)."""
    cached: dict[str, str] | None = getattr(request.state, "form_fields", None)
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = (await request.body())[:65536].decode("utf-8", "replace")
        fields = {key: values[0] for key, values in parse_qs(body).items()}
    request.state.form_fields = fields
    return fields


def when(value: datetime | str | None) -> str:
    """A time as people on Gotland read it: Swedish local time, with its zone (CET or CEST)."""
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M:%S %Z")


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    return duration((datetime.now(UTC) - value).total_seconds()) + " ago"


def duration(seconds: float | None) -> str:
    if not seconds or seconds < 1:
        return "0 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
