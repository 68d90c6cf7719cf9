"""Which database refusals are a race with another writer (retry, answer "unavailable") and
which are the message's own content (answer "rejected"): on the real drivers, SQLite and
PostgreSQL (issue 12: errors classified at the source, and never a message dropped for a race).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from services import require_postgres
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bridge.service.delivery.accept import Acceptor, AcceptStatus, _is_conflict
from bridge.store.db import sync_url

TABLE = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, k VARCHAR(10) UNIQUE, "
    "n INTEGER NOT NULL, c INTEGER CHECK (c > 0))"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = create_engine("sqlite://")
        yield made
        made.dispose()
        return
    with require_postgres() as url:
        made = create_engine(sync_url(url))
        yield made
        made.dispose()


def refusal(engine: Engine, statement: str) -> IntegrityError:
    with engine.begin() as connection:
        connection.execute(text(TABLE))
        connection.execute(text("INSERT INTO t (id, k, n, c) VALUES (1, 'a', 1, 1)"))
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    except IntegrityError as error:
        return error
    raise AssertionError(f"no IntegrityError from {statement}")


@pytest.mark.parametrize(
    ("statement", "conflict"),
    [
        ("INSERT INTO t (id, k, n, c) VALUES (2, 'a', 1, 1)", True),  # unique key taken
        ("INSERT INTO t (id, k, n, c) VALUES (1, 'b', 1, 1)", True),  # primary key taken
        ("INSERT INTO t (id, k, n, c) VALUES (2, 'b', NULL, 1)", False),  # NOT NULL
        ("INSERT INTO t (id, k, n, c) VALUES (2, 'b', 1, -1)", False),  # CHECK
    ],
)
def test_uniqueness_is_a_race_other_constraints_are_content(
    engine: Engine, statement: str, conflict: bool
) -> None:
    assert _is_conflict(refusal(engine, statement)) is conflict


async def test_a_conflict_on_every_try_is_unavailable_never_rejected(engine: Engine) -> None:
    """A message that lost the race on every try is answered "send again", not "rejected"
    (which would make its sender drop it for good)."""
    error = refusal(engine, "INSERT INTO t (id, k, n, c) VALUES (2, 'a', 1, 1)")
    acceptor = Acceptor.__new__(Acceptor)
    tries = 0

    async def commit(items: Any) -> Any:
        nonlocal tries
        tries += 1
        raise error

    acceptor._commit = commit  # type: ignore[method-assign]
    item = cast(Any, type("Item", (), {"event": None, "inbound": None})())
    results = await acceptor._write_batch([item])
    assert tries > 1  # retried first: the other writer's rows are seen on the next try
    assert [r.status for r in results] == [AcceptStatus.UNAVAILABLE]
