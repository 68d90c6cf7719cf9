"""Issue 5: a destination outage produces exactly one alert and one recovery message at a
webhook, however many retries happen in between, with two bridge processes watching."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import func, select
from test_admission_flow import mllp_send_foreign
from webhook_sink import running_sink

from bridge.config import Settings
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.delivery.dead_letters import DeadLetterFilter
from bridge.service.operations.alert_rules import destination_failing_key
from bridge.store.tables import DeliveryAttemptRow, DeliveryRow
from treserva_sim.server import RunningTreserva

KEY = destination_failing_key("treserva")


async def set_faults_at(treserva: RunningTreserva, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def failed_attempts(bridge: RunningBridge) -> int:
    async with bridge.bridge.db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.outcome == "transient")
        )
    return int(count or 0)


async def all_delivered(bridge: RunningBridge) -> bool:
    async with bridge.bridge.db.session() as session:
        waiting = await session.scalar(
            select(func.count()).where(DeliveryRow.status != "delivered")
        )
    return waiting == 0


async def test_an_outage_gives_one_alert_and_one_recovery(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with running_sink() as sink:
        # Given the bridge (two processes on one database in production), alerting a webhook
        alerting = settings.model_copy(
            update={
                "alert_webhook_url": sink.url,
                "alert_destination_failing_seconds": 0.5,
                "alert_check_interval_seconds": 0.1,
                "backoff_max_seconds": 0.1,
                # While Treserva is down only probes reach it: let them come often.
                "destination_probe_max_seconds": 0.1,
            }
        )
        async with contextlib.AsyncExitStack() as processes:
            first = await processes.enter_async_context(running_bridge(alerting))
            # Several processes share one database in production mode only; the embedded
            # SQLite default is one process (two on one file starve each other of the lock).
            second = first
            if settings.broker_url:
                second = await processes.enter_async_context(running_bridge(alerting))
            # When Treserva is down and two admissions are retried again and again
            await set_faults_at(treserva, outage=True)
            messages = [admission(control_id(), synthetic_personnummer()) for _ in range(2)]
            await asyncio.to_thread(mllp_send_foreign, first.mllp_port, messages)
            await wait_until(lambda: sink.about(KEY) == ["firing"], within=15, what="the alert")
            seen = await failed_attempts(first)
            await wait_until(
                lambda: _more_than(first, seen + 10), within=15, what="ten more retries"
            )

            # And Treserva comes back
            await set_faults_at(treserva, outage=False)
            await wait_until(lambda: all_delivered(second), within=15, what="delivered")
            await wait_until(lambda: len(sink.about(KEY)) == 2, within=10, what="recovery")

            # Then the webhook got exactly one alert and one recovery, nothing more, even
            # after both processes check their rules once more
            for bridge in (first, second):
                await bridge.bridge.alert_rules.check_once()
        assert sink.about(KEY) == ["firing", "resolved"]
        assert [body["key"] for body in sink.received] == [KEY, KEY]
        firing, resolved = sink.received
        assert firing["kind"] == "destination-failing"
        assert "treserva" in firing["summary"] and "2 notice(s) waiting" in firing["summary"]
        assert firing["detail"]["waiting"] == 2 and firing["detail"]["oldest_waiting_seconds"] >= 0
        assert resolved["resolved_at"] is not None
        # And both are Prometheus Alertmanager webhook bodies (version 4) of one group
        for body, status in ((firing, "firing"), (resolved, "resolved")):
            assert (body["version"], body["status"], body["groupKey"]) == (
                "4",
                status,
                firing["groupKey"],
            )
            [alert] = body["alerts"]
            assert alert["status"] == status
            assert alert["labels"]["alertname"] == "BridgeDestinationFailing"
            assert alert["labels"]["destination"] == "treserva"
            assert alert["annotations"]["summary"] and alert["startsAt"]
        assert firing["alerts"][0]["endsAt"].startswith("0001-01-01")
        assert resolved["alerts"][0]["endsAt"] == resolved["resolved_at"]
        assert await failed_attempts(first) > seen + 10


async def _more_than(bridge: RunningBridge, count: int) -> bool:
    return await failed_attempts(bridge) > count


async def test_a_dead_letter_alert_clears_when_an_operator_replays_it(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with running_sink() as sink:
        # Given a bridge that gives a notice up after half a second, alerting a local webhook
        alerting = settings.model_copy(
            update={
                "alert_webhook_url": sink.url,
                "alert_check_interval_seconds": 0.05,
                "alert_interval_seconds": 0.05,
                "alert_dead_letter_quiet_seconds": 0,
                "max_age_seconds": 0.5,
            }
        )
        async with running_bridge(alerting) as bridge:
            # When two notices die at a Treserva that is down
            await set_faults_at(treserva, outage=True)
            messages = [admission(control_id(), synthetic_personnummer()) for _ in range(2)]
            await asyncio.to_thread(mllp_send_foreign, bridge.mllp_port, messages)
            await wait_until(lambda: _dead_count(bridge, 2), within=15, what="two dead")
            await wait_until(lambda: len(sink.received) == 1, within=15, what="the alert")
            [alert] = sink.received
            assert alert["kind"] == "dead-letter" and alert["status"] == "firing"
            assert alert["key"] == "dead-letters:treserva:max-age"
            assert alert["alerts"][0]["labels"]["reason"] == "max-age"

            # And an operator replays them once Treserva is back
            await set_faults_at(treserva, outage=False)
            where = DeadLetterFilter(destination="treserva")
            replayed = await bridge.bridge.dead_letters.replay_matching(where, actor="olivia")
            assert len(replayed) == 2
            await wait_until(lambda: all_delivered(bridge), within=15, what="delivered")

            # Then the webhook hears that the incident cleared, once: one alert for the group
            await wait_until(lambda: len(sink.received) == 2, within=10, what="recovery")
            await bridge.bridge.alert_rules.check_once()
        assert sink.about(alert["key"]) == ["firing", "resolved"]
        assert "no dead letters" in sink.received[1]["resolution"]


async def _dead_count(bridge: RunningBridge, count: int) -> bool:
    async with bridge.bridge.db.session() as session:
        dead = await session.scalar(select(func.count()).where(DeliveryRow.status == "dead"))
    return dead == count
