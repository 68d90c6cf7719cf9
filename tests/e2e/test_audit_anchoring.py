"""Issue 12: the audit chain is keyed and its head is witnessed outside the database.

`bridge audit verify --against WITNESS` detects what the keyed chain alone cannot: a row edit
whose hashes were recomputed with the key, the newest rows cut off with the head rewound, and a
wholly replaced log. A clean log verifies. Both runtime modes.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from conftest import Stack, _settings
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import select, text
from test_admission_flow import mllp_send_foreign, settled
from webhook_sink import running_sink

from bridge.entrypoints.runner import running_bridge
from bridge.service.clock import SystemClock
from bridge.service.operations import audit
from bridge.service.operations.audit import GENESIS, keyed_chain_hash, verify
from bridge.service.operations.audit_witness import (
    AuditWitness,
    FileWitness,
    verify_against,
)
from bridge.store.db import Database
from bridge.store.tables import AuditRow
from treserva_sim.server import RunningTreserva

BRIDGE = Path(sys.executable).with_name("bridge")


def audit_verify(stack: Stack, witness: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BRIDGE), "audit", "verify", "--against", str(witness)],
        env={**os.environ, "BRIDGE_DATABASE_URL": stack.settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def deliver(stack: Stack, count: int) -> None:
    messages = [admission(control_id(), synthetic_personnummer()) for _ in range(count)]
    await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, messages)
    await wait_until(lambda: settled(stack), within=15, what="every notice delivered")


async def witnessed_log(stack: Stack, witness: Path) -> AuditWitness:
    """Two rounds of notices, the head exported to ``witness`` after each."""
    exporter = AuditWitness(stack.bridge.bridge.db, SystemClock(), [FileWitness(witness)])
    await deliver(stack, 2)
    assert await exporter.export_once() is not None
    await deliver(stack, 2)
    assert await exporter.export_once() is not None
    return exporter


async def sql(db: Database, statement: str, **params: object) -> None:
    async with db.session() as session, session.begin():
        await session.execute(text(statement), params)


async def rechain_from(db: Database, first_seq: int, key: bytes) -> None:
    """What an insider with the audit key would do: recompute every hash from ``first_seq``
    and move the head, so the chain alone verifies again."""
    async with db.session() as session, session.begin():
        rows = (
            await session.scalars(
                select(AuditRow).where(AuditRow.seq >= first_seq).order_by(AuditRow.seq)
            )
        ).all()
        prev = await session.scalar(select(AuditRow.row_hash).where(AuditRow.seq == first_seq - 1))
        prev = prev or GENESIS
        for row in rows:
            assert row.seq is not None
            content = {
                "at": row.at,
                "action": row.action,
                "message_id": row.message_id,
                "delivery_id": row.delivery_id,
                "actor": row.actor,
                "detail": row.detail,
            }
            row.prev_hash = prev
            row.row_hash = keyed_chain_hash(key, prev, row.seq, content)
            prev = row.row_hash
        last = rows[-1].seq if rows else first_seq - 1
        await session.execute(
            text("UPDATE audit_chain_head SET seq = :seq, row_hash = :hash WHERE id = 1"),
            {"seq": last, "hash": prev},
        )


async def test_a_clean_log_verifies_against_its_witness(stack: Stack, tmp_path: Path) -> None:
    # Given a log whose head was exported twice
    witness = tmp_path / "audit-witness.jsonl"
    await witnessed_log(stack, witness)
    lines = witness.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["mac"] for line in lines)

    # When it is verified against the witness
    result = await asyncio.to_thread(audit_verify, stack, witness)

    # Then both the chain and the witness agree
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "audit log intact" in result.stdout and "witness agrees: 2 witnessed heads" in result.stdout
    )


async def test_a_row_edit_with_recomputed_hashes_is_detected(stack: Stack, tmp_path: Path) -> None:
    # Given a witnessed log
    witness = tmp_path / "audit-witness.jsonl"
    await witnessed_log(stack, witness)
    db = stack.bridge.bridge.db
    async with db.session() as session:
        target = await session.scalar(
            select(AuditRow.seq).where(AuditRow.action == "delivered").order_by(AuditRow.seq)
        )
    assert target is not None

    # When a row is edited and every later hash recomputed without the key (plain SHA-256 as
    # before the keyed chain), the chain itself already fails
    await sql(db, "UPDATE audit_log SET detail = :d WHERE seq = :s", d='{"forged": 1}', s=target)
    unkeyed = await verify(db)
    assert unkeyed.broken is not None and unkeyed.broken.seq == target

    # And when an insider recomputes them with the key itself, the chain verifies ...
    await rechain_from(db, target, db.audit_key)
    assert (await verify(db)).ok

    # ... but the witness does not agree, and the CLI exits 1 naming the row
    result = await asyncio.to_thread(audit_verify, stack, witness)
    assert result.returncode == 1
    assert "witness DISAGREES" in result.stdout
    assert "differs from what the witness saw" in result.stdout


async def test_tail_truncation_with_the_head_rewound_is_detected(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a witnessed log
    witness = tmp_path / "audit-witness.jsonl"
    await witnessed_log(stack, witness)
    db = stack.bridge.bridge.db
    head = await verify(db)
    cut = head.head_seq - 3

    # When the newest rows are deleted and the head rewound to the last one left
    await sql(db, "DELETE FROM audit_log WHERE seq > :cut", cut=cut)
    async with db.session() as session:
        last_hash = await session.scalar(select(AuditRow.row_hash).where(AuditRow.seq == cut))
    await sql(
        db, "UPDATE audit_chain_head SET seq = :s, row_hash = :h WHERE id = 1", s=cut, h=last_hash
    )

    # Then the chain alone still verifies, but not against the witness
    assert (await verify(db)).ok
    result = await asyncio.to_thread(audit_verify, stack, witness)
    assert result.returncode == 1
    assert f"the log ends at seq {cut} but the witness saw seq {head.head_seq}" in result.stdout
    assert "truncated" in result.stdout


async def test_a_wholly_replaced_log_is_detected(stack: Stack, tmp_path: Path) -> None:
    # Given a witnessed log
    witness = tmp_path / "audit-witness.jsonl"
    await witnessed_log(stack, witness)
    db = stack.bridge.bridge.db
    before = await verify(db)

    # When every row is removed and a new, self-consistent chain (made with the key) of more
    # rows than before is written in its place
    await sql(db, "DELETE FROM audit_log")
    await sql(db, "UPDATE audit_chain_head SET seq = 0, row_hash = :g WHERE id = 1", g=GENESIS)
    async with db.session() as session, session.begin():
        for n in range(before.head_seq + 5):
            audit.record(session, at=datetime.now(UTC), action="replaced", n=n)
    assert (await verify(db)).ok

    # Then the witness shows it
    result = await asyncio.to_thread(audit_verify, stack, witness)
    assert result.returncode == 1
    assert "witness DISAGREES" in result.stdout and "rewritten or replaced" in result.stdout


async def test_a_forged_witness_line_is_refused(stack: Stack, tmp_path: Path) -> None:
    # Given a witness file someone appended a head of their own to, without the key
    witness = tmp_path / "audit-witness.jsonl"
    await witnessed_log(stack, witness)
    line = json.loads(witness.read_text().splitlines()[-1])
    line["seq"] = 1
    with witness.open("a") as out:
        out.write(json.dumps(line) + "\n")

    # Then verification names that line
    check = await verify_against(stack.bridge.bridge.db, witness.read_text().splitlines())
    assert (
        check.problem is not None and "witness line 3" in check.problem and "MAC" in check.problem
    )


async def test_serve_exports_the_head_to_file_syslog_and_webhook(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    # Given a syslog (UDP) receiver and a webhook receiver
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    witness = tmp_path / "witness.jsonl"
    try:
        async with running_sink() as hook:
            settings = _settings(
                treserva,
                database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
                audit_witness_file=witness,
                audit_witness_syslog=f"127.0.0.1:{receiver.getsockname()[1]}",
                audit_witness_webhook_url=hook.url,
                audit_witness_interval_seconds=0.2,
            )
            # When the bridge runs and accepts a notice
            async with running_bridge(settings) as bridge:
                message = admission(control_id(), synthetic_personnummer())
                await asyncio.to_thread(mllp_send_foreign, bridge.mllp_port, [message])

                async def exported_beyond_zero() -> bool:
                    lines = witness.read_text().splitlines() if witness.exists() else []
                    return any(json.loads(line)["seq"] > 0 for line in lines)

                await wait_until(exported_beyond_zero, within=10, what="head exported")
            # Then the same signed heads reach the file, syslog and the webhook
            datagram = (await asyncio.to_thread(receiver.recv, 65536)).decode()
            assert '"kind":"bridge.audit.head"' in datagram
            assert hook.received and hook.received[0]["kind"] == "bridge.audit.head"
            db = Database(settings.database_url)
            try:
                check = await verify_against(db, witness.read_text().splitlines())
                syslog_check = await verify_against(db, [datagram])
            finally:
                await db.close()
            assert check.ok, check.problem
            assert syslog_check.ok, syslog_check.problem
    finally:
        receiver.close()
