"""Issue 15, must show 2: home-care orders from a private health centre (FHIR) and from the
hospital (HL7 v2 REF^I12 over MLLP) reach Treserva; one is accepted, one rejected with a reason;
each answer reaches its referrer (the private centre's FHIR endpoint; TakeCare as RRI^I12 over
MLLP); an order left unanswered raises one reminder at its deadline, on a simulated clock.

Everything over real sockets: the TakeCare simulator (hospital ward), a second TakeCare receiver
playing the private health centre, the Treserva simulator answering through its API, a webhook
as the municipality's alert channel. Both runtime modes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import mode_settings
from services import wait_until
from webhook_sink import WebhookSink, running_sink

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.domain.indicators import Month
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.care.orders import count_orders, list_orders
from bridge.service.operations import audit
from support.playback import ManualClock
from takecare_sim import RunningTakeCare, receiving
from takecare_sim.orders import (
    HOSPITAL_WARD,
    PRIVATE_FACILITY,
    PRIVATE_HEALTH_CENTRE,
    new_order,
    send_order_fhir,
    send_order_mllp,
)
from treserva_sim.server import RunningTreserva

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
ELSA = "194403129804"  # synthetic: serial 98x, valid check digit
KARL = "193902149818"  # synthetic: serial 98x, valid check digit


@dataclass
class World:
    bridge: RunningBridge
    clock: ManualClock
    treserva: RunningTreserva
    hospital: RunningTakeCare
    private_centre: RunningTakeCare
    alerts: WebhookSink
    database_url: str


def _routing(
    treserva: RunningTreserva, hospital: RunningTakeCare, centre: RunningTakeCare
) -> dict[str, Any]:
    return {
        "sources": [
            {"name": "takecare", "facilities": ["VISBY_LAS"]},
            {"name": "vc-hemse-privat", "facilities": [PRIVATE_FACILITY]},
            {"name": "treserva", "facilities": ["GOTLAND-SOF"]},
        ],
        "destinations": [
            {"name": "treserva", "address": f"{treserva.base_url}/fhir"},
            {
                "name": "takecare-orders",
                "address": hospital.mllp_address,
                "format": "hl7v2",
                "transport": "mllp",
            },
            {"name": "vc-hemse-privat", "address": centre.fhir_base},
        ],
        "routes": [
            {"events": ["homecare-order"], "source": "takecare", "destinations": ["treserva"]},
            {
                "events": ["homecare-order"],
                "source": "vc-hemse-privat",
                "destinations": ["treserva"],
            },
            {
                "events": ["homecare-order-answered"],
                "source": "treserva",
                "conditions": {"requesters": [HOSPITAL_WARD.hsa_id]},
                "destinations": ["takecare-orders"],
            },
            {
                "events": ["homecare-order-answered"],
                "source": "treserva",
                "conditions": {"requesters": [PRIVATE_HEALTH_CENTRE.hsa_id]},
                "destinations": ["vc-hemse-privat"],
            },
        ],
    }


@pytest.fixture
async def referrers() -> AsyncIterator[tuple[RunningTakeCare, RunningTakeCare]]:
    async with receiving() as hospital, receiving() as centre:
        yield hospital, centre


@pytest.fixture
async def alerts() -> AsyncIterator[WebhookSink]:
    async with running_sink() as sink:
        yield sink


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.postgres)])
def settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    treserva: RunningTreserva,
    referrers: tuple[RunningTakeCare, RunningTakeCare],
    alerts: WebhookSink,
) -> Iterator[Settings]:
    with mode_settings(request.param, tmp_path, treserva) as chosen:
        routing = tmp_path / "routing.yaml"
        routing.write_text(yaml.safe_dump(_routing(treserva, *referrers)), encoding="utf-8")
        yield chosen.model_copy(
            update={
                "routing_file": routing,
                "order_answer_hours": 48.0,
                "order_check_interval_seconds": 0.05,
                "alert_webhook_url": alerts.url,
                "alert_interval_seconds": 0.05,
            }
        )


@pytest.fixture
async def world(
    settings: Settings,
    treserva: RunningTreserva,
    referrers: tuple[RunningTakeCare, RunningTakeCare],
    alerts: WebhookSink,
) -> AsyncIterator[World]:
    clock = ManualClock(START)
    async with running_bridge(settings, bridge=Bridge(settings, clock=clock)) as bridge:
        treserva.bridge_link.point_at(f"{bridge.base_url}/fhir")
        yield World(bridge, clock, treserva, *referrers, alerts, settings.database_url)


async def _get(base_url: str, path: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{base_url}{path}")
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


async def _answer(treserva: RunningTreserva, order_id: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{treserva.base_url}/api/orders/{order_id}/answer", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["bridge_code"] == "ok"


async def test_orders_reach_treserva_answers_reach_referrers_and_silence_is_reminded(
    world: World,
) -> None:
    # Given an order from the private health centre over FHIR and one from the hospital ward
    # as HL7 v2 REF^I12 over MLLP
    from_centre = new_order(ELSA, PRIVATE_HEALTH_CENTRE, "Såromläggning tre gånger i veckan")
    from_ward = new_order(KARL, HOSPITAL_WARD, "Hemtjänst: hjälp med dusch", service="hemtjanst")
    code = await send_order_fhir(from_centre, f"{world.bridge.base_url}/fhir", PRIVATE_FACILITY)
    ack = await send_order_mllp(from_ward, "127.0.0.1", world.bridge.mllp_port)
    assert (code, ack.code) == ("ok", "AA")

    # Then both reach Treserva, with who asked and what
    async def both_at_treserva() -> bool:
        return len(await _get(world.treserva.base_url, "/api/orders")) == 2

    await wait_until(both_at_treserva, within=20, what="both orders at Treserva")
    at_treserva = {o["order_id"]: o for o in await _get(world.treserva.base_url, "/api/orders")}
    centre_order = at_treserva[from_centre.order_id]
    ward_order = at_treserva[from_ward.order_id]
    assert (centre_order["requester_hsa_id"], centre_order["patient_identifier"]) == (
        PRIVATE_HEALTH_CENTRE.hsa_id,
        ELSA,
    )
    assert centre_order["description"] == from_centre.description
    assert (ward_order["requester_hsa_id"], ward_order["service"]) == (
        HOSPITAL_WARD.hsa_id,
        "hemtjanst",
    )
    assert ward_order["patient_identifier"] == KARL

    # When home care accepts the centre's order and rejects the ward's with a reason
    reason = "Patienten kan ta sig till vårdcentralen (tröskelprincipen)"
    await _answer(world.treserva, from_centre.order_id, {"decision": "accepted"})
    await _answer(world.treserva, from_ward.order_id, {"decision": "rejected", "reason": reason})

    # Then each answer reaches its referrer: the centre over FHIR, the ward as RRI^I12 (MLLP)
    async def answered(referrer: RunningTakeCare) -> bool:
        return bool(await _get(referrer.base_url, "/api/order-answers"))

    await wait_until(lambda: answered(world.private_centre), within=20, what="centre's answer")
    await wait_until(lambda: answered(world.hospital), within=20, what="ward's answer")
    assert await _get(world.private_centre.base_url, "/api/order-answers") == [
        {"order_id": from_centre.order_id, "status": "accepted", "reason": None, "format": "fhir"}
    ]
    assert await _get(world.hospital.base_url, "/api/order-answers") == [
        {
            "order_id": from_ward.order_id,
            "status": "rejected",
            "reason": reason,
            "format": "hl7v2",
        }
    ]
    assert [i.channel for i in world.hospital.inbox.items()] == ["mllp"]

    # Given a third order nobody answers
    silent = new_order(ELSA, PRIVATE_HEALTH_CENTRE, "Insulin morgon och kväll")
    assert await send_order_fhir(silent, f"{world.bridge.base_url}/fhir", PRIVATE_FACILITY)
    silent_sent = world.clock.now()

    # When the clock reaches one minute before its deadline (48 h): no reminder
    world.clock.set(silent_sent + timedelta(hours=47, minutes=59))
    await asyncio.sleep(0.3)  # several reminder checks at 50 ms
    assert _reminders(world.alerts) == []

    # When it passes the deadline
    world.clock.set(silent_sent + timedelta(hours=48, minutes=1))
    await wait_until(lambda: bool(_reminders(world.alerts)), within=10, what="the reminder")
    await asyncio.gather(*(world.bridge.bridge.order_reminders.check() for _ in range(3)))
    await asyncio.sleep(0.3)

    # Then exactly one reminder went out, for the unanswered order only, patient masked
    [reminder] = _reminders(world.alerts)
    assert silent.order_id in reminder["summary"]
    assert ELSA not in str(reminder)
    assert "19440312-****" in reminder["summary"]

    # And operators see the three orders; the indicators' count agrees
    listed = {o.order_id: o for o in await list_orders(world.bridge.bridge.db)}
    assert {k: v.status for k, v in listed.items()} == {
        from_centre.order_id: "accepted",
        from_ward.order_id: "rejected",
        silent.order_id: "requested",
    }
    assert listed[from_ward.order_id].reason == reason
    assert listed[silent.order_id].reminded_at is not None
    counts = await count_orders(
        world.bridge.bridge.db,
        START - timedelta(days=1),
        START + timedelta(days=1),
        world.clock.now(),
    )
    assert counts.as_dict() == {
        "sent": 3,
        "answered": 2,
        "accepted": 1,
        "rejected": 1,
        "need_more_information": 0,
        "unanswered_past_deadline": 1,
        "answered_late": 0,
    }
    # And the indicators of the orders' month carry the same figures, marked provisional
    rows = await world.bridge.bridge.indicators.month(Month.of(START))
    orders = {r.indicator: r for r in rows if r.indicator.startswith("orders-")}
    rejected, unanswered = orders["orders-rejected"], orders["orders-unanswered-past-deadline"]
    assert (rejected.numerator, rejected.denominator, rejected.value) == (1, 2, 50.0)
    assert unanswered.value == 1
    assert rejected.provisional == (world.clock.now() < Month.of(START).end)
    assert (await audit.verify(world.bridge.bridge.db)).ok

    # And the operators' command line lists them, the reminded one marked, patients masked
    listed_json = json.loads(await asyncio.to_thread(_cli, world.database_url, "list", "--json"))
    assert {o["order_id"]: o["status"] for o in listed_json} == {
        k: v.status for k, v in listed.items()
    }
    [reminded] = [o for o in listed_json if o["reminded_at"] is not None]
    assert reminded["order_id"] == silent.order_id
    assert ELSA not in json.dumps(listed_json) and KARL not in json.dumps(listed_json)


def _cli(database_url: str, *arguments: str) -> str:
    bridge_cli = Path(sys.executable).with_name("bridge")
    done = subprocess.run(
        [str(bridge_cli), "orders", *arguments],
        env={**os.environ, "BRIDGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _reminders(sink: WebhookSink) -> list[dict[str, Any]]:
    return [
        body
        for body in sink.received
        if str(body.get("key", "")).startswith("order-unanswered:") and body["status"] == "firing"
    ]


async def test_a_question_closes_the_deadline_a_completed_order_restarts_it_and_an_answer_resolves_its_reminder(  # noqa: E501
    world: World,
) -> None:
    # Given an order from the private centre, and home care asking for more information
    order = new_order(ELSA, PRIVATE_HEALTH_CENTRE, "Insulin")
    base = f"{world.bridge.base_url}/fhir"
    assert await send_order_fhir(order, base, PRIVATE_FACILITY) == "ok"

    async def at_treserva() -> bool:
        return bool(await _get(world.treserva.base_url, "/api/orders"))

    await wait_until(at_treserva, within=20, what="the order at Treserva")
    question = {"decision": "need-more-information", "reason": "Ange dos och tider"}
    await _answer(world.treserva, order.order_id, question)

    async def centre_answers() -> list[dict[str, Any]]:
        return await _get(world.private_centre.base_url, "/api/order-answers")

    async def answers(count: int) -> bool:
        return len(await centre_answers()) == count

    await wait_until(lambda: answers(1), within=20, what="the question at the centre")
    assert (await centre_answers())[0]["status"] == "on-hold"

    # When the first deadline passes: the question closed it, no reminder
    world.clock.advance(timedelta(hours=49))
    await asyncio.sleep(0.3)
    assert _reminders(world.alerts) == []

    # When the centre sends the order again, completed, and nobody answers for 48 h
    assert await send_order_fhir(order, base, PRIVATE_FACILITY) == "ok"
    resent = world.clock.now()
    world.clock.set(resent + timedelta(hours=47))
    await asyncio.sleep(0.3)
    assert _reminders(world.alerts) == []
    world.clock.set(resent + timedelta(hours=48, minutes=1))
    await wait_until(lambda: bool(_reminders(world.alerts)), within=10, what="the reminder")
    [reminder] = _reminders(world.alerts)

    # And home care then accepts it
    await _answer(world.treserva, order.order_id, {"decision": "accepted"})

    # Then the referrer hears it, the reminder is resolved, and the order is accepted
    await wait_until(lambda: answers(2), within=20, what="the acceptance at the centre")
    assert (await centre_answers())[0]["status"] == "accepted"
    await wait_until(
        lambda: world.alerts.about(reminder["key"]) == ["firing", "resolved"],
        within=10,
        what="the reminder resolved",
    )
    [listed] = await list_orders(world.bridge.bridge.db)
    assert (listed.order_id, listed.status) == (order.order_id, "accepted")
    counts = await count_orders(world.bridge.bridge.db, START, resent + timedelta(days=3), resent)
    assert (counts.sent, counts.accepted, counts.unanswered_past_deadline) == (1, 1, 0)
