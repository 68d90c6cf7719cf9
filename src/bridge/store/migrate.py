"""Bring a database to the current schema with Alembic (at start-up and ``bridge db upgrade``).

Several replicas may start at the same instant on one PostgreSQL database. Each takes a
session-level advisory lock on a dedicated connection before it looks at the schema, so one
migrates while the others wait, then find the schema current and do nothing (issue 13: without
the lock the second failed on a unique violation in ``alembic_version``). A database whose
revision this code does not know was migrated by a newer bridge: the process refuses to start
rather than write to a schema it does not understand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url

from bridge.store.db import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"

# pg_advisory_lock key of the schema migration: any constant unique to the bridge ("bridgedb").
MIGRATION_LOCK_KEY = 0x62726964676564


class SchemaAheadOfCode(RuntimeError):
    """The database was migrated by a newer bridge than this one."""

    def __init__(self, database_revision: str, code_head: str) -> None:
        super().__init__(
            f"the database schema is at revision {database_revision}, which this bridge does "
            f"not know (its newest revision is {code_head}): it was migrated by a newer "
            "bridge; run that version, or restore a backup made for this one"
        )
        self.database_revision = database_revision
        self.code_head = code_head


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def code_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the bridge ships at least one migration"
    return head


def database_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions ``alembic_version`` names (empty on a fresh database)."""
    return MigrationContext.configure(connection).get_current_heads()


def check_not_ahead(connection: Connection) -> None:
    """Raise :class:`SchemaAheadOfCode` when the database names a revision unknown here."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for revision in database_revisions(connection):
        if not _known(scripts, revision):
            raise SchemaAheadOfCode(revision, code_head())


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError/CommandError for unknown ids
        return False


def upgrade(database_url: str) -> None:
    """Migrate to head under the migration lock; refuse a schema ahead of this code."""
    url = make_url(database_url)
    database = url.database
    if url.drivername.startswith("sqlite") and database not in (None, ":memory:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    with migration_lock(database_url) as connection:
        check_not_ahead(connection)
        connection.commit()
        command.upgrade(alembic_config(database_url), "head")


@contextmanager
def migration_lock(database_url: str) -> Iterator[Connection]:
    """A dedicated connection holding the migration lock (PostgreSQL) for the block.

    SQLite needs none: one file, one host, and Alembic's transaction takes its write lock.
    """
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
            try:
                yield connection
            finally:
                if postgres:
                    connection.rollback()
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    connection.commit()
    finally:
        engine.dispose()
