"""Sign-in pieces: scrypt password hashes, signed session cookies, CSRF tokens, redirects,
roles, and the timeline people read."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bridge.entrypoints.ops.security import SessionKeys, safe_next
from bridge.entrypoints.ops.timeline import step
from bridge.service.operations.history import HistoryEntry
from bridge.service.operations.users import Role, User, check_password, hash_password
from bridge.store.db import Database

AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return AT


def keys(secret: str = "test-key", hours: float = 8) -> SessionKeys:
    return SessionKeys(Database("sqlite:///:memory:"), Clock(), secret, hours)


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("a long passphrase"), hash_password("a long passphrase")
    assert first.startswith("scrypt$32768$8$1$") and first != second
    assert check_password("a long passphrase", first)
    assert not check_password("a long passphrasE", first)
    assert not check_password("a long passphrase", "md5$abc")
    assert "passphrase" not in first


async def test_a_session_cookie_is_accepted_until_changed_or_expired() -> None:
    signer = keys()
    cookie, session = await signer.issue("olivia")
    assert await signer.check(cookie) == session

    payload, signature = cookie.rsplit(".", 1)
    assert await signer.check(f"{payload}.{'0' * len(signature)}") is None
    assert await keys("another-key").check(cookie) is None
    assert await signer.check("garbage") is None and await signer.check(None) is None

    expired = keys(hours=-1)
    old, _ = await expired.issue("olivia")
    assert await expired.check(old) is None
    assert session.expires > time.time()


async def test_csrf_tokens_belong_to_one_session() -> None:
    signer = keys()
    _, mine = await signer.issue("olivia")
    _, theirs = await signer.issue("olivia")
    token = await signer.csrf_token(mine)
    assert await signer.csrf_ok(mine, token)
    assert not await signer.csrf_ok(theirs, token)
    assert not await signer.csrf_ok(mine, None) and not await signer.csrf_ok(mine, "")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ops/messages/abc", "/ops/messages/abc"),
        ("https://evil.example/", "/ops/"),
        ("//evil.example/ops/", "/ops/"),
        ("/ops/\\evil", "/ops/"),
        (None, "/ops/"),
    ],
)
def test_after_sign_in_only_dashboard_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_roles_are_ordered_and_a_disabled_user_may_nothing() -> None:
    operator = User("olivia", Role.OPERATOR, False, AT)
    assert operator.may(Role.VIEWER) and operator.may(Role.OPERATOR)
    assert not operator.may(Role.ADMIN)
    assert not User("old", Role.ADMIN, True, AT).may(Role.VIEWER)
    assert Role.parse(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="viewer, operator, admin"):
        Role.parse("root")


def test_timeline_steps_say_what_happened() -> None:
    failed = step(
        HistoryEntry(
            AT,
            "attempt_failed",
            "bridge",
            "d1",
            {"destination": "treserva", "attempt": 2, "status_code": 503, "error": "HTTP 503"},
        )
    )
    assert (failed.title, failed.detail, failed.tone) == (
        "Attempt 2 to treserva failed",
        "HTTP 503",
        "warn",
    )
    replayed = step(HistoryEntry(AT, "dead_letter_replayed", "olivia", "d1", {"reason": ""}))
    assert (replayed.title, replayed.actor, replayed.tone) == ("Replayed", "olivia", "info")
    unknown = step(HistoryEntry(AT, "something_new", "bridge", None, {"k": "v"}))
    assert (unknown.title, unknown.detail, unknown.actor) == ("Something new", "k v", None)
