"""Issue 5: `/metrics` scraped after a demo-like run shows the documented series with the
right counts; `/healthz` and `/readyz` answer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from services import wait_until
from sqlalchemy import func, select
from test_admission_flow import mllp_send_foreign

from bridge.config import Settings
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import DeliveryRow
from takecare_sim import send_admissions
from treserva_sim.server import RunningTreserva

OPERATIONS_DOC = Path(__file__).parents[2] / "docs" / "operations.md"


async def set_faults(stack: Stack, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def count_status(stack: Stack, status: str) -> int:
    async with stack.bridge.bridge.db.session() as session:
        count = await session.scalar(select(func.count()).where(DeliveryRow.status == status))
    return int(count or 0)


async def scrape(stack: Stack) -> dict[str, list[Sample]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.bridge.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(key) == wanted for key, wanted in labels.items())
    ]
    return sum(matching)


async def test_metrics_after_a_demo_run_count_what_happened(
    settings: Settings, treserva: RunningTreserva
) -> None:
    # Given a bridge that gives a notice up after failing for half a second
    settings = settings.model_copy(update={"max_age_seconds": 0.5})
    async with running_bridge(settings) as bridge:
        await _demo_run_and_scrape(Stack(treserva, bridge, settings))


async def _demo_run_and_scrape(stack: Stack) -> None:
    # Given three admissions from the TakeCare simulator, all delivered
    port = stack.bridge.mllp_port
    sent = await send_admissions(host="127.0.0.1", port=port, count=3, rate_per_s=50)
    assert [notice.ack_code for notice in sent] == ["AA", "AA", "AA"]
    await wait_until(lambda: _delivered(stack, 3), within=15, what="three delivered")

    # And one repeat, one message that cannot be read, and one that dies at a failing Treserva
    repeat = admission(control_id(), synthetic_personnummer())
    await asyncio.to_thread(mllp_send_foreign, port, [repeat, repeat])
    await wait_until(lambda: _delivered(stack, 4), within=15, what="four delivered")
    async with httpx.AsyncClient() as client:
        rejected = await client.post(
            f"{stack.bridge.base_url}/hl7v2", content=b"MSH|^~\\&|broken", timeout=10
        )
    assert "MSA|AR" in rejected.text or "MSA|AE" in rejected.text
    await set_faults(stack, outage=True)
    await asyncio.to_thread(
        mllp_send_foreign, port, [admission(control_id(), synthetic_personnummer())]
    )
    await wait_until(lambda: _dead(stack, 1), within=15, what="one dead letter")

    # When Prometheus scrapes the bridge
    samples = await scrape(stack)

    # Then the counters say exactly that
    assert value(samples, "bridge_messages_accepted_total", event_type="admission") == 5
    assert value(samples, "bridge_messages_duplicate_total", event_type="admission") == 1
    assert value(samples, "bridge_messages_rejected_total", entrypoint="http") == 1
    assert value(samples, "bridge_messages_received_total") == 7
    assert value(samples, "bridge_messages_received_total", entrypoint="mllp") == 6
    assert value(samples, "bridge_messages_delivered_total", destination="treserva") == 4
    assert value(samples, "bridge_messages_dead_lettered_total", destination="treserva") == 1
    assert value(samples, "bridge_delivery_attempts_failed_total", destination="treserva") >= 1
    assert value(samples, "bridge_delivery_latency_seconds_count", destination="treserva") == 4
    inf = value(samples, "bridge_delivery_latency_seconds_bucket", le="+Inf")
    assert inf == 4
    assert value(samples, "bridge_delivery_latency_seconds_sum", destination="treserva") > 0
    # And the gauges show the state now: nothing waiting, one dead letter
    assert value(samples, "bridge_queue_depth", destination="treserva") == 0
    assert value(samples, "bridge_queue_oldest_age_seconds", destination="treserva") == 0
    assert value(samples, "bridge_dead_letters", destination="treserva") == 1
    assert value(samples, "bridge_unreceipted_notices", destination="treserva") == 0
    assert value(samples, "bridge_dependency_up", dependency="database") == 1
    assert value(samples, "bridge_dependency_up", dependency="broker") == 1
    assert value(samples, "bridge_audit_log_rows") > 0

    # And a second scrape counts nothing twice
    again = await scrape(stack)
    assert value(again, "bridge_messages_accepted_total") == 5
    assert value(again, "bridge_messages_delivered_total") == 4


async def test_every_series_is_documented(stack: Stack) -> None:
    # Given the names /metrics exposes
    samples = await scrape(stack)
    exposed = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in samples}
    exposed |= {"bridge_delivery_latency_seconds"}

    # Then docs/operations.md documents each one
    documented = set(re.findall(r"`(bridge_[a-z_]+)`", OPERATIONS_DOC.read_text()))
    documented = {re.sub(r"_total$", "", name) for name in documented}
    assert exposed <= documented, exposed - documented


async def test_health_and_readiness(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert alive.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": True, "broker": True}}


async def _delivered(stack: Stack, count: int) -> bool:
    return await count_status(stack, "delivered") == count


async def _dead(stack: Stack, count: int) -> bool:
    return await count_status(stack, "dead") == count
