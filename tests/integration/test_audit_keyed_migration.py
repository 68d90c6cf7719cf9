"""Issue 12: existing audit rows survive the move to the keyed chain (migration 0009).

Rows written before it keep their plain SHA-256 hashes; new rows are HMAC-keyed and chain onto
the last old one, so rewriting the old rows (hashes recomputed the old way) still breaks the
chain, and a wrong key fails verification.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from services import require_postgres
from sqlalchemy import create_engine, insert, text

from bridge.entrypoints.cli_audit import describe
from bridge.service.operations import audit
from bridge.service.operations.audit import GENESIS, chain_hash, verify
from bridge.store.db import Database, sync_url
from bridge.store.migrate import alembic_config
from bridge.store.tables import AuditRow

KEY = b"test-only-audit-key-for-the-migration"
LEGACY = 5


@contextlib.contextmanager
def database(mode: str, tmp_path: Path) -> Iterator[str]:
    if mode == "embedded":
        yield f"sqlite:///{tmp_path / 'bridge.db'}"
        return
    with require_postgres() as url:
        yield url


def legacy_rows(url: str, count: int, *, forged: bool = False) -> None:
    """Rows 1..count as the bridge wrote them before 0009 (unkeyed hashes); the first time the
    head moves with them, a forger only replaces them in place."""
    engine = create_engine(sync_url(url))
    prev = GENESIS
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq <= :n"), {"n": count})
        for seq in range(1, count + 1):
            row = {
                "at": datetime(2026, 1, 1, 12, seq, tzinfo=UTC),
                "action": "accepted",
                "message_id": None,
                "delivery_id": None,
                "actor": "bridge",
                "detail": json.dumps({"n": seq, "forged": forged}),
            }
            row_hash = chain_hash(prev, seq, row)
            connection.execute(
                insert(AuditRow.__table__).values(**row, seq=seq, prev_hash=prev, row_hash=row_hash)
            )
            prev = row_hash
        if not forged:
            connection.execute(
                text("UPDATE audit_chain_head SET seq = :seq, row_hash = :hash WHERE id = 1"),
                {"seq": count, "hash": prev},
            )
    engine.dispose()


@pytest.mark.parametrize(
    "mode", ["embedded", pytest.param("production", marks=pytest.mark.postgres)]
)
async def test_old_rows_keep_verifying_and_cannot_be_rewritten(mode: str, tmp_path: Path) -> None:
    with database(mode, tmp_path) as url:
        # Given a database at 0006 with an unkeyed chain of five rows
        command.upgrade(alembic_config(url), "0006")
        legacy_rows(url, LEGACY)

        # When it is migrated and the bridge appends keyed rows
        command.upgrade(alembic_config(url), "0009")
        db = Database(url, audit_key=KEY)
        try:
            async with db.session() as session, session.begin():
                for n in range(3):
                    audit.record(session, at=datetime.now(UTC), action="test", n=n)

            # Then the whole chain verifies, saying how many rows are unkeyed
            result = await verify(db)
            assert result.ok, result.broken
            assert (result.rows, result.keyed_from_seq) == (LEGACY + 3, LEGACY + 1)
            assert f"({LEGACY} older rows with unkeyed hashes)" in describe(result)

            # And with another key it does not
            other = Database(url, audit_key=b"another-key")
            try:
                wrong = await verify(other)
            finally:
                await other.close()
            assert wrong.broken is not None and wrong.broken.seq == LEGACY + 1

            # And when the old rows are rewritten with their hashes recomputed the old way,
            # the first keyed row no longer links to them
            legacy_rows(url, LEGACY, forged=True)
            rewritten = await verify(db)
            assert rewritten.broken is not None
            assert rewritten.broken.seq == LEGACY
            assert "recomputed hash" in rewritten.broken.problem
        finally:
            await db.close()
