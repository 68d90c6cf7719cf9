"""Issue 4, must-show 4: receipts. Treserva silently dropping a notice (HTTP 200, nothing filed,
no receipt) turns the notice ``unreceipted`` and raises one alert within the configured time;
a receipt marks the notice received, and a late one resolves the alert. Both runtime modes."""

from __future__ import annotations

import asyncio

import httpx
from conftest import Stack
from delivery_support import (
    RecordingAlerting,
    delivery_of,
    delivery_stack,
    receipt_bundle,
    send_admission,
    until_status,
)
from messages import synthetic_personnummer
from services import wait_until
from sqlalchemy import select

from bridge.config import Settings
from bridge.store.tables import AuditRow
from treserva_sim.server import RunningTreserva

RECEIPT_TIMEOUT = 1.5


async def set_faults(stack: Stack, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def post_receipt(stack: Stack, responds_to: str, code: str = "ok") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{stack.bridge.base_url}/fhir/$process-message",
            json=receipt_bundle(responds_to, code),
            headers={"Content-Type": "application/fhir+json"},
        )


def receipt_settings() -> dict[str, object]:
    return {"receipt_timeout_seconds": RECEIPT_TIMEOUT, "receipt_check_interval_seconds": 0.1}


async def test_silent_drop_turns_the_notice_unreceipted_with_one_alert(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva, **receipt_settings()) as (stack, _, alerting):
        # Given Treserva confirming what it files, but now answering 200 and filing nothing
        treserva.bridge_link.point_at(f"{stack.bridge.base_url}/fhir")
        await set_faults(stack, silent_drop=True)
        loop = asyncio.get_running_loop()

        # When an admission is accepted and delivered
        control = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
        delivered_at = loop.time()
        row = await delivery_of(stack, control)
        assert row.receipt_state == "awaiting"

        # Then within the receipt timeout (plus one sweep) it is unreceipted, with an alert
        key = f"unreceipted:{row.id}"
        await wait_until(
            lambda: key in alerting.keys("unreceipted"),
            within=RECEIPT_TIMEOUT + 3,
            what="unreceipted alert",
        )
        assert loop.time() - delivered_at >= RECEIPT_TIMEOUT - 0.1
        assert (await delivery_of(stack, control)).receipt_state == "unreceipted"
        listed = await stack.bridge.bridge.receipts.list_unreceipted()
        assert [n.delivery_id for n in listed] == [row.id]
        assert listed[0].patient_masked.endswith("****")
        # And one alert for the notice, however often the watch sweeps
        await stack.bridge.bridge.receipts.sweep_once()
        await stack.bridge.bridge.alert_dispatcher.dispatch_once()
        assert alerting.keys("unreceipted") == [key]


async def test_the_simulator_confirms_each_filed_notice(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva, **receipt_settings()) as (stack, _, alerting):
        # Given the Treserva simulator sending its receipts to this bridge
        treserva.bridge_link.point_at(f"{stack.bridge.base_url}/fhir")

        # When two admissions are delivered and filed
        controls = [await send_admission(stack, synthetic_personnummer()) for _ in range(2)]

        # Then its receipts mark both received, well before the timeout, and nothing is alerted
        for control in controls:
            await wait_until(lambda c=control: _state(stack, c, "received"), within=RECEIPT_TIMEOUT)  # type: ignore[misc]
        await stack.bridge.bridge.receipts.sweep_once()
        assert await stack.bridge.bridge.receipts.list_unreceipted() == []
        assert alerting.keys("unreceipted") == []


async def test_a_receipt_marks_the_notice_received_and_a_late_one_resolves_the_alert(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva, **receipt_settings()) as (stack, _, alerting):
        # Given two delivered admissions, one of which turned unreceipted
        await set_faults(stack, silent_drop=True)
        late = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: _state(stack, late, "unreceipted"), within=RECEIPT_TIMEOUT + 5)
        await set_faults(stack, silent_drop=False)
        prompt = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: until_status(stack, prompt, "delivered"), within=10)

        # When Treserva posts a receipt for each (naming the MessageHeader.id the bridge sent)
        for control in (prompt, late):
            header_id = (await delivery_of(stack, control)).header_id
            assert header_id is not None
            response = await post_receipt(stack, header_id)
            assert response.status_code == 200, response.text

        # Then both are received; the late one's alert is resolved; none is listed any more
        assert await _state(stack, prompt, "received")
        assert await _state(stack, late, "received")
        late_id = (await delivery_of(stack, late)).id
        await wait_until(
            lambda: _resolved(alerting, f"unreceipted:{late_id}"), within=5, what="resolved"
        )
        assert await stack.bridge.bridge.receipts.list_unreceipted() == []
        assert f"unreceipted:{(await delivery_of(stack, prompt)).id}" not in alerting.keys(
            "unreceipted"
        )
        async with stack.bridge.bridge.db.session() as session:
            actions = (
                await session.scalars(
                    select(AuditRow.action).where(AuditRow.delivery_id == late_id)
                )
            ).all()
        assert "unreceipted" in actions and actions[-1] == "receipted"


async def test_a_negative_receipt_is_an_incident(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva, **receipt_settings()) as (stack, _, alerting):
        # Given a delivered admission
        control = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
        row = await delivery_of(stack, control)

        # When Treserva answers that it could not file it
        assert row.header_id is not None
        response = await post_receipt(stack, row.header_id, "fatal-error")
        assert response.status_code == 200, response.text

        # Then it is listed for operators and alerted
        assert await _state(stack, control, "negative")
        await wait_until(
            lambda: f"receipt-negative:{row.id}" in alerting.keys("receipt-negative"), within=5
        )
        [listed] = await stack.bridge.bridge.receipts.list_unreceipted()
        assert (listed.state, listed.receipt_code) == ("negative", "fatal-error")


async def _state(stack: Stack, control: str, state: str) -> bool:
    return (await delivery_of(stack, control)).receipt_state == state


def _resolved(alerting: RecordingAlerting, key: str) -> bool:
    return any(resolved == key for resolved, _ in alerting.resolved)
