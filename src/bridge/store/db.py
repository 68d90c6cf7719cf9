"""The database handle: an async SQLAlchemy engine for SQLite (default) or PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Executable, Result, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Pick the async driver for a plain ``postgresql://`` or ``sqlite:///`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The synchronous URL Alembic migrates with."""
    parsed = make_url(url)
    if parsed.drivername.startswith("postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername.startswith("sqlite"):
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


async def core(
    session: AsyncSession, statement: Executable, rows: Any = None
) -> Result[*tuple[Any, ...]]:
    """Run a Core statement on the session's connection, in its transaction.

    ``session.execute`` sends even a plain INSERT of dicts through the ORM's bulk paths; on
    the hot path that bookkeeping cost more than the statement (docs/performance.md).
    """
    connection = await session.connection()
    if rows is None:
        return await connection.execute(statement)
    return await connection.execute(statement, rows)


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


AUDIT_KEY_INFO = "bridge.audit.key"
"""Where a session finds the audit chain's HMAC key (service/operations/audit.py)."""

DEMO_AUDIT_KEY = b"bridge-demo-audit-key"


class _DatabaseSettings(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def audit_key_bytes(self) -> bytes: ...


def audit_key_from_environment(url: str) -> bytes:
    """``BRIDGE_AUDIT_KEY``; the demo key only for SQLite; else refuse (never a silent default)."""
    key = os.environ.get("BRIDGE_AUDIT_KEY", "").strip()
    if key:
        return key.encode()
    if is_sqlite(url):
        return DEMO_AUDIT_KEY
    raise ValueError(
        "BRIDGE_AUDIT_KEY must be set when the database is not the embedded SQLite demo"
    )


class Database:
    """Owns the engine and session factory. One per process.

    ``audit_key`` keys the audit hash chain; it lives only in this process (settings or the
    environment), never in the database.
    """

    @classmethod
    def for_settings(cls, settings: _DatabaseSettings) -> Database:
        return cls(settings.database_url, audit_key=settings.audit_key_bytes)

    def __init__(self, url: str, *, audit_key: bytes | None = None) -> None:
        self.url = url
        self.audit_key = audit_key if audit_key is not None else audit_key_from_environment(url)
        self.is_sqlite = is_sqlite(url)
        # hide_parameters: SQL errors and echo never carry the values (docs/security.md)
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs = {"connect_args": {"timeout": 30}, "hide_parameters": True}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_timeout=5)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # A batch's rows as one multi-row INSERT, not psycopg's pipelined executemany: the
            # per-row Python cost of the pipeline was the largest driver cost (performance.md).
            self.engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={AUDIT_KEY_INFO: self.audit_key}
        )

    def session(self) -> AsyncSession:
        return self.sessions()

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
