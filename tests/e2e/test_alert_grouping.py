"""Issue 13, must-show 2: 300 notices refused for good make at most three alerts (one per
destination and cause), a replay of all 300 that fails again adds none, and the dead-letter
list groups them by cause (CLI and ops API). Both runtime modes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import func, select
from test_admission_flow import mllp_send_foreign
from webhook_sink import running_sink

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.delivery.dead_letters import DeadLetterFilter
from bridge.store.tables import AlertIncidentRow, AlertOutboxRow, DeliveryRow
from treserva_sim.server import RunningTreserva

NOTICES = 300


class Refusing:
    """A destination that refuses every notice for good: 422 for even patients' admissions,
    400 for the others (two causes)."""

    def __init__(self) -> None:
        self.sent = 0
        self.codes: Counter[int] = Counter()  # per status code, each notice counted once
        self._seen: set[str] = set()

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent += 1
        code = 422 if message.idempotency_key[-1] in "02468ace" else 400
        if message.idempotency_key not in self._seen:
            self._seen.add(message.idempotency_key)
            self.codes[code] += 1
        return SendResult(Outcome.PERMANENT, code, f"HTTP {code} (refused by the test)")

    async def close(self) -> None:
        return None


async def _dead(bridge: RunningBridge) -> int:
    async with bridge.bridge.db.session() as session:
        count = await session.scalar(select(func.count()).where(DeliveryRow.status == "dead"))
    return int(count or 0)


async def _incidents(bridge: RunningBridge) -> list[str]:
    async with bridge.bridge.db.session() as session:
        return list((await session.scalars(select(AlertIncidentRow.key))).all())


@pytest.mark.timeout(480)
async def test_three_hundred_refused_notices_make_one_alert_per_cause(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    async with running_sink() as sink:
        # Given a bridge whose destination refuses everything, alerting a webhook
        settings = settings.model_copy(
            update={
                "alert_webhook_url": sink.url,
                "alert_check_interval_seconds": 0.1,
                "alert_interval_seconds": 0.1,
            }
        )
        refusing = Refusing()
        bridge = Bridge(settings, connectors={"http": refusing})
        async with running_bridge(settings, bridge=bridge) as running:
            # When 300 admissions of 300 patients are accepted and all are refused
            messages = [admission(control_id(), synthetic_personnummer()) for _ in range(NOTICES)]
            acks = await asyncio.to_thread(mllp_send_foreign, running.mllp_port, messages)
            assert all("MSA|AA" in ack for ack in acks)
            await wait_until(lambda: _dead_is(running, NOTICES), within=120, what="all dead")
            await wait_until(lambda: _unsent_alerts(running), within=90, what="alerts sent")

            # Then the webhook got at most three alerts: one for the destination and cause of
            # the dead letters (and, for the admissions never filed, one collaboration
            # deviation alert per unit and rule when the deadline check finds them)
            firing = [body for body in sink.received if body["status"] == "firing"]
            assert 1 <= len(firing) <= 3, [body["key"] for body in firing]
            dead = [body for body in firing if body["kind"] == "dead-letter"]
            assert [body["key"] for body in dead] == ["dead-letters:treserva:permanent"]
            assert dead[0]["alerts"][0]["labels"]["alertname"] == "BridgeDeadLetter"
            others = [body["key"] for body in firing if body["kind"] != "dead-letter"]
            assert all(key.startswith("deviations:") for key in others), others

            # And the dead letters list in two groups by cause, counted
            groups = await running.bridge.dead_letters.groups()
            assert sorted((g.last_error, g.count) for g in groups) == sorted(
                (f"HTTP {code} (refused by the test)", n) for code, n in refusing.codes.items()
            )
            assert sum(g.count for g in groups) == NOTICES and len(groups) == 2
            listed = await _cli(settings, tmp_path, "list", "--group-by", "cause", "--json")
            assert sorted(g["count"] for g in json.loads(listed)) == sorted(g.count for g in groups)
            text = await _cli(settings, tmp_path, "list", "--group-by", "cause")
            assert f"{NOTICES} dead letter(s) in 2 group(s)" in text

            # When all 300 are replayed and refused again
            replayed = await running.bridge.dead_letters.replay_matching(
                DeadLetterFilter(destination="treserva"), actor="olle.operator"
            )
            assert len(replayed) == NOTICES
            await wait_until(lambda: _sent_at_least(refusing, 2 * NOTICES), within=120)
            await wait_until(lambda: _dead_is(running, NOTICES), within=120, what="dead again")
            await wait_until(lambda: _unsent_alerts(running), within=90, what="alerts sent")
            await running.bridge.alert_rules.check_once()

            # Then no alert storm: nothing new for the group that is still open
            firing = [body for body in sink.received if body["status"] == "firing"]
            dead_keys = [body["key"] for body in firing if body["kind"] == "dead-letter"]
            assert dead_keys == ["dead-letters:treserva:permanent"]
            assert len(firing) <= 3
            assert not [body for body in sink.received if body["status"] != "firing"]
            incidents = await _incidents(running)
            assert [key for key in incidents if key.startswith("dead-letter")] == [
                "dead-letters:treserva:permanent"
            ]


async def _dead_is(running: RunningBridge, expected: int) -> bool:
    return await _dead(running) == expected


async def _sent_at_least(refusing: Refusing, count: int) -> bool:
    return refusing.sent >= count


async def _unsent_alerts(running: RunningBridge) -> bool:
    async with running.bridge.db.session() as session:
        unsent = await session.scalar(select(func.count()).where(AlertOutboxRow.sent_at.is_(None)))
    return unsent == 0


async def _cli(settings: Settings, cwd: Path, *arguments: str) -> str:
    bridge = Path(sys.executable).with_name("bridge")
    env = {**os.environ, "BRIDGE_DATABASE_URL": settings.database_url}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(bridge), "dead-letter", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
