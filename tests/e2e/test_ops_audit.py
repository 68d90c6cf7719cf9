"""Issue 5: the audit log is a hash chain; `bridge audit verify` names the first broken link,
and writers in several processes at once still make one valid chain."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Stack, mode_settings
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import func, select, text
from test_admission_flow import mllp_send_foreign, settled

from bridge.service.operations.audit import verify
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from bridge.store.tables import AuditRow
from treserva_sim.server import RunningTreserva

BRIDGE = Path(sys.executable).with_name("bridge")


def audit_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BRIDGE), "audit", "verify"],
        env={**os.environ, "BRIDGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def deliver_some(stack: Stack, count: int = 3) -> None:
    messages = [admission(control_id(), synthetic_personnummer()) for _ in range(count)]
    await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, messages)
    await wait_until(lambda: settled(stack), within=15, what="every notice delivered")


async def execute(db: Database, statement: str, **params: object) -> None:
    async with db.session() as session, session.begin():
        await session.execute(text(statement), params)


async def test_a_changed_audit_row_is_named_by_audit_verify(stack: Stack) -> None:
    # Given a bridge that delivered a few notices, and an audit log that verifies
    await deliver_some(stack)
    url = stack.settings.database_url
    intact = await asyncio.to_thread(audit_verify, url)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith("audit log intact:")

    # When someone changes one audit row directly in the database
    db = stack.bridge.bridge.db
    async with db.session() as session:
        target = await session.scalar(
            select(AuditRow.id).where(AuditRow.action == "delivered").order_by(AuditRow.id)
        )
    await execute(
        db,
        "UPDATE audit_log SET detail = :detail WHERE id = :id",
        detail='{"forged": true}',
        id=target,
    )

    # Then `bridge audit verify` fails and names that row
    broken = await asyncio.to_thread(audit_verify, url)
    assert broken.returncode == 1
    assert f"BROKEN at audit row id {target} " in broken.stdout
    assert "content was changed" in broken.stdout


async def test_removed_and_rewritten_rows_are_found(stack: Stack) -> None:
    # Given a verified audit log
    await deliver_some(stack, 2)
    db = stack.bridge.bridge.db
    assert (await verify(db)).ok
    async with db.session() as session:
        ids = list((await session.scalars(select(AuditRow.id).order_by(AuditRow.seq))).all())

    # When a row in the middle is deleted
    await execute(db, "DELETE FROM audit_log WHERE id = :id", id=ids[3])

    # Then the row after the gap is named
    result = await verify(db)
    assert result.broken is not None
    assert result.broken.audit_id == ids[4]
    assert "missing" in result.broken.problem

    # And when the last row is removed too, the head shows the truncation
    await execute(db, "DELETE FROM audit_log WHERE id = :id", id=ids[3])
    await execute(db, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")  # hide the gap
    hidden = await verify(db)
    assert hidden.broken is not None  # the hashes still name a row: seq is in the hash


WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from bridge.service.operations import audit
from bridge.store.db import Database

async def main(url, name, count):
    db = Database(url)
    for n in range(int(count)):
        async with db.session() as session, session.begin():
            audit.record(session, at=datetime.now(UTC), action="test", actor=name, n=n)
            audit.record(session, at=datetime.now(UTC), action="test", actor=name, n=n, second=1)
    await db.close()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "mode", ["embedded", pytest.param("production", marks=pytest.mark.postgres)]
)
async def test_writers_in_several_processes_make_one_valid_chain(
    mode: str, tmp_path: Path, treserva: RunningTreserva
) -> None:
    with mode_settings(mode, tmp_path, treserva) as settings:
        # Given a migrated database
        await asyncio.to_thread(upgrade, settings.database_url)

        # When four processes append 2 × 60 rows each at the same time
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, settings.database_url, f"writer-{n}", "60"
            )
            for n in range(4)
        ]
        codes = await asyncio.gather(*(writer.wait() for writer in writers))
        assert codes == [0, 0, 0, 0]

        # Then every row is in one chain, without gaps, and it verifies
        db = Database(settings.database_url)
        try:
            result = await verify(db)
            async with db.session() as session:
                count = await session.scalar(select(func.count()).select_from(AuditRow))
        finally:
            await db.close()
        assert result.ok, result.broken
        assert result.rows == count == 480
        assert result.head_seq == 480
