"""Issue 4, must-show 6: two real ``bridge serve`` processes on one PostgreSQL and one RabbitMQ;
the delivery guarantees hold with one of them killed (SIGKILL):

- a patient's later notices wait behind the admission being retried (and then dead-lettered),
  other patients flow, and the replay (from the CLI) delivers each once, in order (must-show 3
  and 5);
- Treserva's silent drop turns each notice unreceipted and raises one alert each (must-show 4).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fault_load import Notice, Sender, SenderRecord, workload
from fault_stack import FaultStack, StackConfig
from fault_verdict import origin_message_id
from services import delete_rabbit_entities, require_postgres, require_rabbitmq, wait_until
from sqlalchemy import func, select

from bridge.store.db import Database
from bridge.store.tables import AlertOutboxRow, DeliveryRow, MessageRow

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

SETTINGS = (("BRIDGE_MAX_AGE_SECONDS", "3"), ("BRIDGE_BACKOFF_MAX_SECONDS", "0.5"))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[FaultStack]:
    amqp = require_rabbitmq()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    with require_postgres() as database_url:
        config = StackConfig(bridges=2, receipt_timeout=3, extra_env=SETTINGS)
        running = FaultStack(tmp_path, database_url, amqp, prefix, config)
        try:
            await running.start()
            yield running
        finally:
            await running.stop()
            await asyncio.to_thread(delete_rabbit_entities, prefix)


async def send(stack: FaultStack, patients: list[list[Notice]]) -> SenderRecord:
    record = await Sender(stack.mllp_ports, rate=200, lanes=4).run(patients)
    assert len(record.accepted) == sum(len(p) for p in patients)
    return record


async def filed(stack: FaultStack) -> list[str]:
    """Sender control ids in the order Treserva filed them."""
    items = reversed(await stack.inbox())
    return [c for c in (origin_message_id(i["bundle"]) for i in items) if c is not None]


async def statuses(db: Database, patients: list[list[Notice]]) -> dict[str, tuple[str, int]]:
    """Delivery status and attempts per sender control id."""
    async with db.session() as session:
        rows = await session.execute(
            select(MessageRow.dedupe_key, DeliveryRow.status, DeliveryRow.attempts).join(
                DeliveryRow, DeliveryRow.message_id == MessageRow.id
            )
        )
        found = {key.split("|", 1)[1]: (status, attempts) for key, status, attempts in rows.all()}
    controls = [notice.control_id for notices in patients for notice in notices]
    return {control: found[control] for control in controls if control in found}


async def test_held_notices_wait_and_replay_delivers_in_order_with_a_bridge_killed(
    stack: FaultStack, tmp_path: Path
) -> None:
    db = Database(stack.database_url)
    try:
        # Given Treserva answering 500 to everything, and notices retried for 3 s (the maximum age)
        await stack.sim_faults(error_rate=1.0)
        held, flowing = _patients("held", 3, 0), _patients("flow", 2, 3)

        # When three patients' four notices each are accepted (over both bridges)
        await send(stack, held)

        # Then each admission dies when it ages out; the later notices wait, untried
        admissions = [p[0].control_id for p in held]
        later = [n.control_id for p in held for n in p[1:]]

        async def admissions_dead() -> bool:
            found = await statuses(db, held)
            return all(found.get(c, ("", 0))[0] == "dead" for c in admissions)

        await wait_until(admissions_dead, within=30, what="admissions aged out")
        found = await statuses(db, held)
        assert all(found[c] == ("pending", 0) for c in later)

        # When one bridge is killed, Treserva recovers and two more patients send notices
        await stack.kill_bridge(0)
        await stack.sim_faults(error_rate=0.0)
        await send(stack, flowing)

        # Then the new patients' notices are all filed, while the held ones still wait
        wanted = [n.control_id for p in flowing for n in p]
        await wait_until(
            lambda: _all_filed(stack, wanted), within=30, what="other patients delivered"
        )
        assert not set(await filed(stack)) & {n.control_id for p in held for n in p}

        # When an operator replays every dead letter from the command line
        replayed = await _cli(stack, tmp_path, "dead-letter", "replay", "--all", "--as", "ops")
        assert "3 dead letter(s) replayed" in replayed

        # Then every held notice is filed exactly once, each patient's in the order sent
        everything = [n.control_id for p in held for n in p]
        await wait_until(lambda: _all_filed(stack, everything), within=30, what="replayed")
        order = await filed(stack)
        assert len(order) == len(set(order)) == len(everything) + len(wanted)
        for notices in held + flowing:
            positions = [order.index(n.control_id) for n in notices]
            assert positions == sorted(positions)
    finally:
        await db.close()


async def test_silent_drop_is_caught_with_a_bridge_killed(stack: FaultStack) -> None:
    db = Database(stack.database_url)
    try:
        # Given one of the two bridges killed, and Treserva dropping notices silently
        await stack.kill_bridge(1)
        await stack.sim_faults(silent_drop=True)

        # When two patients' notices are accepted and delivered (HTTP 200)
        patients = _patients("drop", 2, 0)
        await send(stack, patients)

        # Then within the receipt timeout each is unreceipted, with one alert each
        count = sum(len(p) for p in patients)

        async def alerts() -> int:
            async with db.session() as session:
                sent = await session.scalar(
                    select(func.count(func.distinct(AlertOutboxRow.key))).where(
                        AlertOutboxRow.kind == "unreceipted", AlertOutboxRow.sent_at.is_not(None)
                    )
                )
            return int(sent or 0)

        await wait_until(lambda: _is(alerts, count), within=20, what="one alert per notice")
        found = await statuses(db, patients)
        assert all(status == "delivered" for status, _ in found.values())
        assert await filed(stack) == []
        async with db.session() as session:
            raised = await session.scalar(
                select(func.count()).where(AlertOutboxRow.kind == "unreceipted")
            )
        assert raised == count
    finally:
        await db.close()


def _patients(run: str, count: int, first: int) -> list[list[Notice]]:
    """``count`` patients' four notices each, persons ``first`` … (distinct across calls)."""
    return workload(f"{run}-{uuid.uuid4().hex[:6]}", count * 4, first_person=first)


async def _all_filed(stack: FaultStack, controls: list[str]) -> bool:
    return set(controls) <= set(await filed(stack))


async def _is(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected


async def _cli(stack: FaultStack, cwd: Path, *arguments: str) -> str:
    bridge = Path(sys.executable).with_name("bridge")
    env = {**os.environ, "BRIDGE_DATABASE_URL": stack.database_url}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(bridge), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
