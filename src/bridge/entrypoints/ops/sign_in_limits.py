"""Rate limit and temporary lockout of sign-in, per user name and per client address.

Failed sign-ins are counted in a moving window (the ``limits`` library): once a user name or an
address has reached its limit (``BRIDGE_SIGN_IN_LIMIT_USER``, default 5 per 15 minutes;
``BRIDGE_SIGN_IN_LIMIT_ADDRESS``, default 20 per 15 minutes), every sign-in for it is refused
with 429 and ``Retry-After``, the right password too, until the oldest failure leaves the
window. The check comes before the password is hashed, so a locked-out guesser costs no scrypt.
A successful sign-in clears its user name's count (not its address's).

Every failure and every refusal is audited (``sign_in_failed``, ``sign_in_locked``) with the
user name as typed (a personnummer-shaped name masked), how (form, api, oidc) and the address;
never the password.

The counters live in ``BRIDGE_SIGN_IN_LIMIT_STORAGE`` (default ``async+memory://``: per process,
so N processes allow N times the limit; a shared ``async+redis://`` URI counts across them).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse, storage
from limits.aio.strategies import MovingWindowRateLimiter

from bridge.config import Settings
from bridge.domain.identifiers import mask_in_text
from bridge.entrypoints.startup import StartupError
from bridge.service.clock import Clock
from bridge.service.operations import audit
from bridge.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Locked:
    retry_after: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class SignInLimits:
    def __init__(self, settings: Settings) -> None:
        try:
            self._per_user = parse(settings.sign_in_limit_user)
        except ValueError as error:
            raise StartupError(f"BRIDGE_SIGN_IN_LIMIT_USER: {error}") from None
        try:
            self._per_address = parse(settings.sign_in_limit_address)
        except ValueError as error:
            raise StartupError(f"BRIDGE_SIGN_IN_LIMIT_ADDRESS: {error}") from None
        uri = settings.sign_in_limit_storage
        if not uri.startswith("async+"):
            raise StartupError(
                "BRIDGE_SIGN_IN_LIMIT_STORAGE must be an async storage URI (async+memory://, "
                "async+redis://...)"
            )
        try:
            self._limiter = MovingWindowRateLimiter(storage.storage_from_string(uri))
        except Exception as error:  # any bad URI: one line naming the setting
            raise StartupError(f"BRIDGE_SIGN_IN_LIMIT_STORAGE: {error}") from None

    def _keys(self, username: str, address: str) -> list[tuple[RateLimitItem, str, str]]:
        return [(self._per_user, "user", username), (self._per_address, "address", address)]

    async def locked(self, username: str, address: str) -> Locked | None:
        """A lockout in force for the user name or the address, with seconds until it ends."""
        waits = []
        for limit, kind, key in self._keys(username, address):
            if not await self._limiter.test(limit, "sign-in", kind, key):
                stats = await self._limiter.get_window_stats(limit, "sign-in", kind, key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return Locked(max(waits)) if waits else None

    async def failed(self, username: str, address: str) -> None:
        for limit, kind, key in self._keys(username, address):
            await self._limiter.hit(limit, "sign-in", kind, key)

    async def succeeded(self, username: str) -> None:
        await self._limiter.clear(self._per_user, "sign-in", "user", username)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def typed_name(username: str) -> str:
    """The user name as typed, fit for the audit log and the log: short, no personnummer."""
    return mask_in_text(username.strip()[:64])[:64] or "?"


async def audit_refusal(
    db: Database, clock: Clock, action: str, username: str, address: str, via: str, **detail: str
) -> None:
    """An audit row (and a log line) for a failed or refused sign-in; never the password."""
    name = typed_name(username)
    async with db.session() as session, session.begin():
        audit.record(
            session, at=clock.now(), action=action, actor=name, via=via, address=address, **detail
        )
    log.warning("ops %s: user %s from %s via %s", action, name, address, via)
