"""Issue 2: delivery is retried and every attempt is in the audit log; a database outage
gives the sender AR (resend later), never a false AA; ``bridge messages show`` prints the
history."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import Stack, mode_settings
from messages import admission, control_id, synthetic_personnummer
from services import _libpq, wait_until
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from test_admission_flow import inbox_for, mllp_send_foreign, settled

from bridge.domain.hl7.ack import parse_ack
from bridge.entrypoints.runner import running_bridge
from bridge.service.operations.history import find_message_id, message_history
from bridge.store.tables import DeliveryAttemptRow
from treserva_sim.server import RunningTreserva


async def set_faults(stack: Stack, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def attempts(stack: Stack) -> int:
    async with stack.bridge.bridge.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(DeliveryAttemptRow))
    return int(count or 0)


async def test_failed_attempts_are_retried_and_recorded(stack: Stack) -> None:
    # Given Treserva answering 500 to everything
    await set_faults(stack, error_rate=1.0)
    pnr, control = synthetic_personnummer(), control_id()

    # When an admission is sent and fails at least twice, then Treserva recovers
    [ack] = await asyncio.to_thread(
        mllp_send_foreign, stack.bridge.mllp_port, [admission(control, pnr)]
    )
    assert parse_ack(ack).code == "AA"
    await wait_until(lambda: _at_least(stack, 2), within=10, what="two failed attempts")
    await set_faults(stack, error_rate=0.0)

    # Then it is delivered once, and its history shows every attempt
    await wait_until(lambda: inbox_for(stack, pnr), within=10, what="delivered after recovery")
    await wait_until(lambda: settled(stack), within=5, what="delivery recorded")
    db = stack.bridge.bridge.db
    message_id = await find_message_id(db, control)
    assert message_id is not None
    history = await message_history(db, message_id)
    assert history is not None
    actions = [entry.action for entry in history.entries]
    assert actions[:3] == ["accepted", "routed", "outbox"]
    assert actions.count("attempt_failed") >= 2
    assert actions[-1] == "delivered"
    [delivery] = history.deliveries
    assert delivery["status"] == "delivered"
    outcomes = [attempt["outcome"] for attempt in delivery["attempts"]]
    assert outcomes[-1] == "delivered" and outcomes[0] == "transient"
    assert all(attempt["status_code"] == 500 for attempt in delivery["attempts"][:-1])
    assert len(await inbox_for(stack, pnr)) == 1


async def _at_least(stack: Stack, count: int) -> bool:
    return await attempts(stack) >= count


@pytest.mark.postgres
async def test_database_down_gives_ar_and_the_connection_stays_usable(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    with mode_settings("production", tmp_path, treserva) as settings:
        async with running_bridge(settings) as bridge:
            # Given a running bridge whose database then disappears
            name = make_url(settings.database_url).database
            admin_url = make_url(settings.database_url).set(database="postgres")
            with psycopg.connect(_libpq(admin_url.render_as_string(False)), autocommit=True) as c:
                c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

            # When a message arrives, and another on the same connection
            acks = await asyncio.to_thread(
                mllp_send_foreign,
                bridge.mllp_port,
                [admission(control_id(), synthetic_personnummer()) for _ in range(2)],
            )

            # Then both get AR (never a false AA, never AE: resend later), on a connection
            # that stays open
            assert [parse_ack(a).code for a in acks] == ["AR", "AR"]
            assert "send it again later" in acks[0]
            with psycopg.connect(_libpq(admin_url.render_as_string(False)), autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')  # so the fixture's DROP finds it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_once_and_messages_show_from_the_command_line(tmp_path: Path) -> None:
    # Given a fresh directory and free ports (no other setting: the embedded default)
    bridge = Path(sys.executable).with_name("bridge")
    treserva_port = free_port()
    env = {
        **os.environ,
        "BRIDGE_HTTP_PORT": str(free_port()),
        "BRIDGE_MLLP_PORT": str(free_port()),
        "BRIDGE_TRESERVA_URL": f"http://127.0.0.1:{treserva_port}/fhir",
    }

    # When the demo runs one scenario
    demo = subprocess.run(
        [str(bridge), "demo", "--once", "--count", "3", "--rate", "20"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then it reports every notice delivered and exits 0
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.strip().splitlines()
    assert lines[-1] == "sent=3 accepted=3 delivered=3"
    notice_lines = [line for line in lines if line.startswith("notice")]
    assert len(notice_lines) == 3 and all("ack=AA" in line for line in notice_lines)

    # And `bridge messages show` prints the history of one of them from the audit log
    control = notice_lines[0].split()[2]
    show = subprocess.run(
        [str(bridge), "messages", "show", control],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert show.returncode == 0, show.stderr
    for word in ("accepted", "routed", "outbox", "delivered", "treserva: delivered"):
        assert word in show.stdout
    assert (tmp_path / "var" / "bridge.db").exists()
