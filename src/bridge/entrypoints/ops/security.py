"""Sign-in for the ops dashboard: signed, server-side revocable sessions, CSRF tokens, roles.

- The session is a cookie ``bridge_ops`` holding ``username|expiry|nonce`` and an HMAC-SHA256
  over it (HttpOnly, SameSite=Strict; Secure when the bridge's public URL is https). It is
  valid only while its row in ``ops_sessions`` exists (keyed by the SHA-256 of the nonce):
  signing out deletes the row, and a new password, role or state deletes every row of the
  user, so a copied cookie stops working at once. The user and role are read from the
  database on every request.
- The signing keys are ``BRIDGE_SESSION_SECRET``: comma-separated, newest first. The first
  signs; every one verifies, so a key is rotated by putting a new one first and removing the
  old one after the session lifetime. They are never stored in the database. Without them a
  bridge on PostgreSQL (production) refuses to start; the embedded bridge (SQLite) generates a
  key per run and warns.
- Every form carries a CSRF token bound to the session (HMAC of its nonce); JSON API calls that
  change something send it as ``X-CSRF-Token``. The sign-in form uses a double-submit cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy import delete, select

from bridge.config import Settings
from bridge.entrypoints.startup import StartupError
from bridge.service.clock import Clock
from bridge.service.operations.users import User, Users
from bridge.store.db import Database
from bridge.store.tables import OpsSessionRow

SESSION_COOKIE = "bridge_ops"
LOGIN_COOKIE = "bridge_ops_login"
CSRF_HEADER = "X-CSRF-Token"
MIN_KEY_LENGTH = 32

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    username: str
    expires: int
    nonce: str

    @property
    def id(self) -> str:
        return session_id(self.nonce)


def session_id(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _configured_keys(settings: Settings) -> list[str]:
    configured = settings.session_secret or settings.ops_secret_key
    text = configured.get_secret_value() if configured else ""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    short = [index for index, key in enumerate(keys) if len(key) < MIN_KEY_LENGTH]
    if short:
        raise StartupError(
            f"BRIDGE_SESSION_SECRET: every key needs at least {MIN_KEY_LENGTH} characters "
            f"(key {short[0] + 1} is shorter); generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    if not keys and not settings.database_url.startswith("sqlite"):
        raise StartupError(
            "BRIDGE_SESSION_SECRET is not set: a bridge on PostgreSQL needs the session signing "
            "key from its environment (docs/security.md)"
        )
    return keys


def require_session_secret(settings: Settings) -> None:
    """Refuse to start (before any connection is made) without usable session keys."""
    _configured_keys(settings)


def signing_keys(settings: Settings) -> list[bytes]:
    """The session keys, newest first, from ``BRIDGE_SESSION_SECRET``.

    Production (a PostgreSQL database) without it cannot start; the embedded bridge (SQLite)
    generates one for this run only: its sessions end when it stops.
    """
    keys = _configured_keys(settings)
    if keys:
        return [key.encode() for key in keys]
    log.warning(
        "BRIDGE_SESSION_SECRET is not set: the embedded bridge signs ops sessions with a key "
        "generated for this run (sessions end when it stops); set it outside a demo"
    )
    return [secrets.token_urlsafe(48).encode()]


class SessionKeys:
    """Issues, checks and revokes sessions; signs CSRF tokens with the newest key."""

    def __init__(self, db: Database, clock: Clock, keys: list[bytes], hours: float) -> None:
        if not keys:
            raise ValueError("at least one session key")
        self._db = db
        self._clock = clock
        self._keys = keys
        self._lifetime = int(hours * 3600)

    async def issue(self, username: str, *, via: str = "form") -> tuple[str, Session]:
        """A new session, stored, and its cookie value."""
        session = Session(username, int(time.time()) + self._lifetime, secrets.token_urlsafe(24))
        now = self._clock.now()
        async with self._db.session() as db, db.begin():
            await db.execute(delete(OpsSessionRow).where(OpsSessionRow.expires_at < now))
            db.add(
                OpsSessionRow(
                    id=session.id,
                    username=username,
                    via=via,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self._lifetime),
                )
            )
        payload = f"{session.username}|{session.expires}|{session.nonce}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{self._sign(payload, self._keys[0])}", session

    async def check(self, cookie: str | None) -> Session | None:
        """The session of a cookie: signed by a current key, not expired, not revoked."""
        session = self.verify(cookie)
        if session is None:
            return None
        async with self._db.session() as db:
            row = await db.scalar(select(OpsSessionRow).where(OpsSessionRow.id == session.id))
        if row is None or row.username != session.username or row.expires_at <= self._clock.now():
            return None
        return session

    def verify(self, cookie: str | None) -> Session | None:
        """The signature and expiry alone (no database): None when either is wrong."""
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            username, expires, nonce = payload.split("|")
            expiry = int(expires)
        except ValueError:
            return None
        if not any(hmac.compare_digest(signature, self._sign(payload, k)) for k in self._keys):
            return None
        if expiry < time.time():
            return None
        return Session(username, expiry, nonce)

    async def revoke(self, session: Session) -> None:
        """End one session (sign-out): its cookie no longer works, wherever it was copied."""
        async with self._db.session() as db, db.begin():
            await db.execute(delete(OpsSessionRow).where(OpsSessionRow.id == session.id))

    async def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf|{session.nonce}", self._keys[0])[:32]

    async def csrf_ok(self, session: Session, token: str | None) -> bool:
        if not token:
            return False
        return any(
            hmac.compare_digest(token, self._sign(f"csrf|{session.nonce}", key)[:32])
            for key in self._keys
        )

    def sign(self, payload: str) -> str:
        """An HMAC with the newest key (short-lived values such as the OIDC state cookie)."""
        return self._sign(payload, self._keys[0])

    def signed_by_any(self, payload: str, signature: str) -> bool:
        return any(hmac.compare_digest(signature, self._sign(payload, k)) for k in self._keys)

    @property
    def lifetime(self) -> int:
        return self._lifetime

    @staticmethod
    def _sign(payload: str, key: bytes) -> str:
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    csrf: str


async def signed_in(request: Request, keys: SessionKeys, users: Users) -> SignedIn | None:
    """The signed-in user of this request, or None (no, a forged, an expired or a revoked
    cookie, or a disabled user)."""
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
