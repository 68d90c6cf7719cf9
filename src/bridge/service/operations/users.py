"""People who sign in to the ops dashboard: their roles and hashed passwords.

Passwords are hashed with scrypt (``hashlib.scrypt``, memory-hard; N=2^15, r=8, p=1, a random
16-byte salt), stored as ``scrypt$N$r$p$salt$hash``. Roles are ordered: a viewer reads, an
operator also replays and discards dead letters, an admin also manages users.

There is no default user: ``bridge users add NAME --role admin`` creates the first one.
Changing a user's password, role or state ends their open sessions (``ops_sessions``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bridge.service.clock import Clock
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import OpsSessionRow, UserRow


class Role(IntEnum):
    COORDINATOR = 0
    """A care coordinator: sees identified patients of one organisation on the worklist, and
    nothing of the operations dashboard (below viewer, so every ops guard refuses it)."""
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"role must be one of: {', '.join(r.label for r in cls)}") from None


class UserError(ValueError):
    """A user could not be added or changed; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    disabled: bool
    created_at: datetime

    def may(self, role: Role) -> bool:
        return not self.disabled and self.role >= role


_N, _R, _P = 2**15, 8, 1
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, _unb64(digest))


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so a wrong name costs as much time."""
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_password() -> str:
    return secrets.token_urlsafe(15)


class Users:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, username: str, password: str, role: Role, *, actor: str) -> User:
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise UserError("a username is 2–64 letters, digits or . _ @ - (lower case)")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters")
        now = self._clock.now()
        row = UserRow(
            username=username,
            password_hash=hash_password(password),
            role=role.label,
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.session() as session, session.begin():
                session.add(row)
                audit.record(
                    session,
                    at=now,
                    action="user_added",
                    actor=actor,
                    user=username,
                    role=role.label,
                )
        except IntegrityError:
            raise UserError(f"user {username!r} exists already") from None
        return _user(row)

    async def list(self) -> list[User]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(UserRow).order_by(UserRow.username))).all()
        return [_user(row) for row in rows]

    async def count(self) -> int:
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def get(self, username: str) -> User | None:
        async with self._db.session() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
        return _user(row) if row else None

    async def set_role(self, username: str, role: Role, *, actor: str) -> None:
        await self._change(
            username, actor, "user_role_changed", {"role": role.label}, role=role.label
        )

    async def set_password(self, username: str, password: str, *, actor: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters")
        await self._change(
            username, actor, "user_password_changed", {}, password_hash=hash_password(password)
        )

    async def set_disabled(self, username: str, disabled: bool, *, actor: str) -> None:
        action = "user_disabled" if disabled else "user_enabled"
        await self._change(username, actor, action, {}, disabled=disabled)

    async def _change(
        self, username: str, actor: str, action: str, detail: dict[str, str], **values: object
    ) -> None:
        now = self._clock.now()
        async with self._db.session() as session, session.begin():
            changed = await session.execute(
                update(UserRow).where(UserRow.username == username).values(updated_at=now, **values)
            )
            if not getattr(changed, "rowcount", 0):
                raise UserError(f"no user {username!r}")
            # A new password, role or state ends every open session of the user at once: a
            # copied cookie stops working (docs/security.md).
            await session.execute(delete(OpsSessionRow).where(OpsSessionRow.username == username))
            audit.record(session, at=now, action=action, actor=actor, user=username, **detail)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right and the user is enabled; same cost either way."""
        user_row = None
        async with self._db.session() as session:
            user_row = await session.scalar(
                select(UserRow).where(UserRow.username == username.strip().lower())
            )
        stored = user_row.password_hash if user_row else _dummy_hash()
        ok = await _check_in_thread(password, stored)
        if user_row is None or not ok or user_row.disabled:
            return None
        return _user(user_row)


async def _check_in_thread(password: str, stored: str) -> bool:
    return await asyncio.to_thread(check_password, password, stored)


def _user(row: UserRow) -> User:
    return User(row.username, Role.parse(row.role), row.disabled, row.created_at)
