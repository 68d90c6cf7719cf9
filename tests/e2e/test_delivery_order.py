"""Issue 4, must-show 3: a patient's discharge waits behind the admission being retried, while
other patients' notices keep flowing; then both arrive, in order. Both runtime modes."""

from __future__ import annotations

from conftest import Stack
from delivery_support import (
    delivery_of,
    delivery_stack,
    events_at_treserva,
    send_admission,
    send_discharge,
    status_of,
    until_status,
)
from messages import synthetic_personnummer
from services import wait_until

from bridge.config import Settings
from treserva_sim.server import RunningTreserva


async def test_discharge_waits_for_the_retried_admission_and_others_flow(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva) as (stack, switchboard, _):
        # Given Treserva failing (503) every admission notice of patient A
        anna, bertil = synthetic_personnummer(), synthetic_personnummer()
        switchboard.fail(anna, "admission")

        # When A's admission and discharge are accepted, and then B's admission
        anna_admission = await send_admission(stack, anna)
        anna_discharge = await send_discharge(stack, anna)
        bertil_admission = await send_admission(stack, bertil)

        # Then B's admission is delivered while A's admission is being retried
        await wait_until(
            lambda: _events(stack, bertil, ["admission"]), within=15, what="B delivered"
        )
        await wait_until(
            lambda: switchboard.attempts("admission", "transient") >= 3,
            within=15,
            what="A's admission retried",
        )
        # And A's discharge has not been tried at all: it waits in the outbox
        assert switchboard.attempts("discharge") == 0
        waiting = await delivery_of(stack, anna_discharge)
        assert (waiting.status, waiting.attempts) == ("pending", 0)
        assert await status_of(stack, anna_admission) in ("pending", "queued", "in_flight")
        assert await events_at_treserva(stack, anna) == []

        # When Treserva takes A's admission again
        switchboard.heal()

        # Then both arrive, admission first, each once
        await wait_until(
            lambda: _events(stack, anna, ["admission", "discharge"]),
            within=20,
            what="A's admission then discharge",
        )
        for control in (anna_discharge, bertil_admission):
            await wait_until(lambda c=control: until_status(stack, c, "delivered"), within=5)  # type: ignore[misc]
        assert switchboard.attempts("discharge") == 1


async def _events(stack: Stack, personnummer: str, expected: list[str]) -> bool:
    return await events_at_treserva(stack, personnummer) == expected
