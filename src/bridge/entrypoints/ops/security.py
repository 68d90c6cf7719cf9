"""Sign-in for the ops dashboard: signed session cookies, CSRF tokens, roles.

- The session is a cookie ``bridge_ops`` holding ``username|expiry|nonce`` and an HMAC-SHA256
  over it (HttpOnly, SameSite=Strict; Secure when the bridge's public URL is https). The user
  and role are read from the database on every request, so a role change or a disabled user
  takes effect at once.
- The signing key is ``BRIDGE_OPS_SECRET_KEY``; without it, one is generated once and kept in
  the database (``ops_secrets``), so every bridge process accepts the same cookies.
- Every form carries a CSRF token bound to the session (HMAC of its nonce); JSON API calls that
  change something send it as ``X-CSRF-Token``. The sign-in form uses a double-submit cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.exc import IntegrityError

from bridge.service.clock import Clock
from bridge.service.operations.users import User, Users
from bridge.store.db import Database
from bridge.store.tables import OpsSecretRow

SESSION_COOKIE = "bridge_ops"
LOGIN_COOKIE = "bridge_ops_login"
CSRF_HEADER = "X-CSRF-Token"
_KEY_NAME = "session-signing-key"


@dataclass(frozen=True)
class Session:
    username: str
    expires: int
    nonce: str


class SessionKeys:
    """Signs and checks session cookies and CSRF tokens with the shared key."""

    def __init__(self, db: Database, clock: Clock, configured: str | None, hours: float) -> None:
        self._db = db
        self._clock = clock
        self._key: bytes | None = configured.encode() if configured else None
        self._lifetime = int(hours * 3600)

    async def key(self) -> bytes:
        if self._key is None:
            self._key = (await _shared_key(self._db, self._clock)).encode()
        return self._key

    async def issue(self, username: str) -> tuple[str, Session]:
        session = Session(username, int(time.time()) + self._lifetime, secrets.token_urlsafe(12))
        payload = f"{session.username}|{session.expires}|{session.nonce}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{await self._sign(payload)}", session

    async def check(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            username, expires, nonce = payload.split("|")
        except ValueError:
            return None
        if not hmac.compare_digest(signature, await self._sign(payload)):
            return None
        if int(expires) < time.time():
            return None
        return Session(username, int(expires), nonce)

    async def csrf_token(self, session: Session) -> str:
        return (await self._sign(f"csrf|{session.nonce}"))[:32]

    async def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", await self.csrf_token(session))

    @property
    def lifetime(self) -> int:
        return self._lifetime

    async def _sign(self, payload: str) -> str:
        return hmac.new(await self.key(), payload.encode(), hashlib.sha256).hexdigest()


async def _shared_key(db: Database, clock: Clock) -> str:
    """The key every process shares: the first process to need one generates and stores it."""
    async with db.session() as session:
        stored = await session.get(OpsSecretRow, _KEY_NAME)
    if stored is not None:
        return stored.value
    try:
        async with db.session() as session, session.begin():
            session.add(
                OpsSecretRow(
                    name=_KEY_NAME, value=secrets.token_urlsafe(48), created_at=clock.now()
                )
            )
    except IntegrityError:
        pass  # another process stored one first: use that
    async with db.session() as session:
        row = await session.get(OpsSecretRow, _KEY_NAME)
    assert row is not None
    return row.value


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    csrf: str


async def signed_in(request: Request, keys: SessionKeys, users: Users) -> SignedIn | None:
    """The signed-in user of this request, or None (no, a forged or an expired cookie)."""
    session = await keys.check(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    user = await users.get(session.username)
    if user is None or user.disabled:
        return None
    return SignedIn(user, session, await keys.csrf_token(session))


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect."""
    if target and target.startswith("/ops/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ops/"
