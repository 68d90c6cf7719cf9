"""Sign-in pieces: scrypt password hashes, signed session cookies, CSRF tokens, redirects,
roles, and the timeline people read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from services import create_tables

from bridge.config import Settings
from bridge.entrypoints.ops.security import SessionKeys, safe_next, signing_keys
from bridge.entrypoints.ops.sign_in_limits import SignInLimits
from bridge.entrypoints.ops.timeline import step
from bridge.entrypoints.startup import StartupError
from bridge.service.operations.history import HistoryEntry
from bridge.service.operations.users import Role, User, Users, check_password, hash_password
from bridge.store.db import Database

AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
KEY = "k" * 40
OLD_KEY = "o" * 40


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    create_tables(url)
    database = Database(url)
    yield database
    await database.close()


@pytest.fixture
def keys(db: Database) -> Callable[..., SessionKeys]:
    def make(*secrets: str, hours: float = 8) -> SessionKeys:
        chosen = [s.encode() for s in (secrets or (KEY,))]
        return SessionKeys(db, Clock(), chosen, hours)

    return make


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("a long passphrase"), hash_password("a long passphrase")
    assert first.startswith("scrypt$32768$8$1$") and first != second
    assert check_password("a long passphrase", first)
    assert not check_password("a long passphrasE", first)
    assert not check_password("a long passphrase", "md5$abc")
    assert "passphrase" not in first


async def test_a_session_cookie_is_accepted_until_changed_or_expired(
    keys: Callable[..., SessionKeys],
) -> None:
    signer = keys()
    cookie, session = await signer.issue("olivia")
    assert await signer.check(cookie) == session

    payload, signature = cookie.rsplit(".", 1)
    assert await signer.check(f"{payload}.{'0' * len(signature)}") is None
    assert await keys("x" * 40).check(cookie) is None
    assert await signer.check("garbage") is None and await signer.check(None) is None

    expired = keys(hours=-1)
    old, _ = await expired.issue("olivia")
    assert await expired.check(old) is None
    assert session.expires > time.time()


async def test_a_revoked_session_is_refused_though_its_signature_is_good(
    keys: Callable[..., SessionKeys],
) -> None:
    signer = keys()
    cookie, session = await signer.issue("olivia")
    other, _ = await signer.issue("olivia")
    await signer.revoke(session)
    assert signer.verify(cookie) == session  # the signature alone would still pass
    assert await signer.check(cookie) is None
    assert await signer.check(other) is not None  # only that session ended


async def test_a_new_password_role_or_state_ends_every_session_of_the_user(
    db: Database, keys: Callable[..., SessionKeys]
) -> None:
    users, signer = Users(db, Clock()), keys()
    await users.add("olivia", "a-long-test-password", Role.ADMIN, actor="test")
    await users.add("oscar", "a-long-test-password", Role.VIEWER, actor="test")
    changes = [
        lambda: users.set_password("olivia", "another-long-password", actor="test"),
        lambda: users.set_role("olivia", Role.OPERATOR, actor="test"),
        lambda: users.set_disabled("olivia", True, actor="test"),
    ]
    for change in changes:
        cookie, _ = await signer.issue("olivia")
        bystander, _ = await signer.issue("oscar")
        assert await signer.check(cookie) is not None
        await change()
        assert await signer.check(cookie) is None
        assert await signer.check(bystander) is not None


async def test_rotation_the_newest_key_signs_older_ones_verify_until_removed(
    keys: Callable[..., SessionKeys],
) -> None:
    # Given a session signed before the rotation
    before = keys(OLD_KEY)
    cookie, session = await before.issue("olivia")
    token = await before.csrf_token(session)
    # When a new key is put first, the old one kept
    rotated = keys(KEY, OLD_KEY)
    # Then the old cookie and CSRF token still work, and new ones are signed with the new key
    assert await rotated.check(cookie) == session
    assert await rotated.csrf_ok(session, token)
    fresh, _ = await rotated.issue("olivia")
    assert await keys(KEY).check(fresh) is not None
    assert await keys(OLD_KEY).check(fresh) is None
    # And once the old key is removed, the old cookie is refused
    assert await keys(KEY).check(cookie) is None


def test_production_without_a_session_secret_refuses_to_start() -> None:
    production = Settings(database_url="postgresql://bridge@127.0.0.1/bridge", session_secret=None)
    with pytest.raises(StartupError, match="BRIDGE_SESSION_SECRET"):
        signing_keys(production)
    short = Settings(database_url="sqlite:///x.db", session_secret=SecretStr(f"{KEY},short"))
    with pytest.raises(StartupError, match=r"BRIDGE_SESSION_SECRET.*key 2"):
        signing_keys(short)


def test_keys_come_from_the_setting_newest_first_and_never_show_in_a_repr() -> None:
    settings = Settings(
        database_url="postgresql://bridge@127.0.0.1/bridge",
        session_secret=SecretStr(f" {KEY} , {OLD_KEY} "),
    )
    assert signing_keys(settings) == [KEY.encode(), OLD_KEY.encode()]
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def test_the_embedded_bridge_generates_a_key_per_run(caplog: pytest.LogCaptureFixture) -> None:
    embedded = Settings(database_url="sqlite:///x.db", session_secret=None, ops_secret_key=None)
    first, second = signing_keys(embedded), signing_keys(embedded)
    assert len(first) == 1 and len(first[0]) >= 32 and first != second
    assert "BRIDGE_SESSION_SECRET is not set" in caplog.text


async def test_csrf_tokens_belong_to_one_session(keys: Callable[..., SessionKeys]) -> None:
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


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("sign_in_limit_user", "five a minute"),
        ("sign_in_limit_address", "20 per fortnight"),
        ("sign_in_limit_storage", "memory://"),
    ],
)
def test_a_sign_in_limit_that_cannot_work_names_its_setting(setting: str, value: str) -> None:
    settings = Settings(database_url="sqlite:///x.db", **{setting: value})  # type: ignore[arg-type]
    with pytest.raises(StartupError, match=f"BRIDGE_{setting.upper()}"):
        SignInLimits(settings)


async def test_the_lockout_counts_per_user_and_per_address_and_success_clears_the_user() -> None:
    limits = SignInLimits(
        Settings(
            database_url="sqlite:///x.db",
            sign_in_limit_user="2/1 minute",
            sign_in_limit_address="3/1 minute",
        )
    )
    await limits.failed("olivia", "10.0.0.1")
    assert await limits.locked("olivia", "10.0.0.1") is None
    await limits.failed("olivia", "10.0.0.2")
    locked = await limits.locked("olivia", "10.0.0.9")
    assert locked is not None and 1 <= locked.retry_after <= 60
    assert await limits.locked("oscar", "10.0.0.9") is None
    await limits.succeeded("olivia")
    assert await limits.locked("olivia", "10.0.0.9") is None
    await limits.failed("oscar", "10.0.0.1")
    await limits.failed("ines", "10.0.0.1")
    assert await limits.locked("someone", "10.0.0.1") is not None
