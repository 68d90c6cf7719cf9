"""Issue 4, must-show 5 and the dead letters: a permanent failure goes to the dead letters at
once and holds the patient's later notices back; replayed after the fault is fixed it is
delivered exactly once, before them. Discarding lets them go on. Both runtime modes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
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
from sqlalchemy import select

from bridge.config import Settings
from bridge.connectors.port import Outcome
from bridge.service.delivery.dead_letters import DeadLetterFilter, DeadReason, NotADeadLetter
from bridge.store.tables import AuditRow
from treserva_sim.server import RunningTreserva


async def test_replay_after_the_fix_delivers_once_and_in_order(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva) as (stack, switchboard, alerting):
        # Given Treserva refusing patient A's admission (422: permanent)
        anna, bertil = synthetic_personnummer(), synthetic_personnummer()
        switchboard.fail(anna, "admission", outcome=Outcome.PERMANENT, status_code=422)

        # When A's admission and discharge and B's admission are accepted
        admission = await send_admission(stack, anna)
        discharge = await send_discharge(stack, anna)
        await send_admission(stack, bertil)

        # Then A's admission is dead after one attempt, with one alert for its group
        # (destination and cause), holding the discharge
        await wait_until(lambda: until_status(stack, admission, "dead"), within=10)
        await wait_until(lambda: _events(stack, bertil, ["admission"]), within=10)
        desk = stack.bridge.bridge.dead_letters
        [letter] = await desk.list()
        dead = await delivery_of(stack, admission)
        assert (letter.delivery_id, letter.reason, letter.attempts) == (dead.id, "permanent", 1)
        assert letter.held_back == 1 and letter.last_error == "HTTP 422 (test fault)"
        await wait_until(
            lambda: alerting.keys("dead-letter") == ["dead-letters:treserva:permanent"]
        )
        shown = await desk.show(dead.id, actor="olle.operator")
        assert anna in shown.payload and [a.status_code for a in shown.attempts] == [422]
        assert await status_of(stack, discharge) == "pending"
        assert switchboard.attempts("discharge") == 0

        # When the fault is fixed and an operator replays it
        switchboard.heal()
        await desk.replay(dead.id, actor="olle.operator", reason="Treserva fixed the mapping")

        # Then it is delivered exactly once, and the discharge after it
        await wait_until(
            lambda: _events(stack, anna, ["admission", "discharge"]), within=15, what="in order"
        )
        await wait_until(lambda: until_status(stack, discharge, "delivered"), within=5)
        assert switchboard.attempts("admission", "delivered") == 2  # A's and B's
        assert await desk.list() == []
        actors = await _actors(stack, dead.id)
        assert ("dead_letter_viewed", "olle.operator") in actors
        assert ("dead_letter_replayed", "olle.operator") in actors
        with pytest.raises(NotADeadLetter):
            await desk.replay(dead.id, actor="olle.operator")


async def test_discard_with_a_reason_lets_the_held_notices_go_on(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva) as (stack, switchboard, _):
        # Given A's admission dead (permanent) and A's discharge held behind it
        anna = synthetic_personnummer()
        switchboard.fail(anna, "admission", outcome=Outcome.PERMANENT, status_code=400)
        admission = await send_admission(stack, anna)
        discharge = await send_discharge(stack, anna)
        await wait_until(lambda: until_status(stack, admission, "dead"), within=10)

        # When an operator discards it with a reason
        desk = stack.bridge.bridge.dead_letters
        with pytest.raises(ValueError, match="reason"):
            await desk.discard((await delivery_of(stack, admission)).id, actor="o", reason=" ")
        dead_id = (await delivery_of(stack, admission)).id
        await desk.discard(dead_id, actor="olle.operator", reason="sent by phone instead")

        # Then the discharge goes on alone, and the discard is audited with who and why
        await wait_until(lambda: _events(stack, anna, ["discharge"]), within=10)
        await wait_until(lambda: until_status(stack, discharge, "delivered"), within=5)
        assert (await delivery_of(stack, admission)).discard_reason == "sent by phone instead"
        assert ("dead_letter_discarded", "olle.operator") in await _actors(stack, dead_id)


async def test_transient_failures_die_only_at_the_maximum_age_and_replay_by_filter(
    settings: Settings, treserva: RunningTreserva
) -> None:
    async with delivery_stack(settings, treserva, max_age_seconds=2.0, max_attempts=1) as (
        stack,
        switchboard,
        _,
    ):
        # Given Treserva answering 503 to two patients' admissions, a 2 s maximum age and the
        # deprecated max_attempts=1 still set (it once ended retries after the first attempt)
        people = [synthetic_personnummer(), synthetic_personnummer()]
        for person in people:
            switchboard.fail(person)
        controls = [await send_admission(stack, person) for person in people]

        # Then each is dead only when its age ran out (not after its first attempt, as
        # max_attempts=1 once meant), reason max-age
        for control in controls:
            await wait_until(lambda c=control: until_status(stack, c, "dead"), within=15)  # type: ignore[misc]
            row = await delivery_of(stack, control)
            assert row.dead_reason == "max-age"
            assert row.dead_at is not None
            assert (row.dead_at - row.created_at).total_seconds() >= 2.0
        desk = stack.bridge.bridge.dead_letters
        where = DeadLetterFilter(destination="treserva", reason=DeadReason.MAX_AGE)
        assert await desk.count(where) == 2
        [group] = await desk.groups()
        assert (group.destination, group.reason, group.count) == ("treserva", "max-age", 2)

        # When the fault is gone and every max-age dead letter is replayed
        switchboard.heal()
        replayed = await desk.replay_matching(where, actor="olle.operator")

        # Then both are delivered once
        assert len(replayed) == 2
        for person in people:
            await wait_until(lambda p=person: _events(stack, p, ["admission"]), within=10)  # type: ignore[misc]


async def test_dead_letter_commands_from_the_cli(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    async with delivery_stack(settings, treserva) as (stack, switchboard, _):
        # Given a dead admission
        anna = synthetic_personnummer()
        switchboard.fail(anna, "admission", outcome=Outcome.PERMANENT, status_code=422)
        admission = await send_admission(stack, anna)
        await wait_until(lambda: until_status(stack, admission, "dead"), within=10)
        dead_id = (await delivery_of(stack, admission)).id
        switchboard.heal()

        # When an operator lists, shows and replays it with `bridge dead-letter`
        listed = await cli(stack, tmp_path, "list")
        shown = await cli(stack, tmp_path, "show", dead_id, "--as", "cli.operator")
        replayed = await cli(stack, tmp_path, "replay", dead_id, "--as", "cli.operator")

        # Then each answers, the patient masked in the list, and the notice is delivered
        assert dead_id in listed and anna not in listed and "1 dead letter(s)" in listed
        assert "HTTP 422" in shown and "payload (application/fhir+json)" in shown
        assert f"replayed {dead_id}" in replayed
        await wait_until(lambda: _events(stack, anna, ["admission"]), within=10)
        assert ("dead_letter_replayed", "cli.operator") in await _actors(stack, dead_id)


async def cli(stack: Stack, cwd: Path, *arguments: str) -> str:
    bridge = Path(sys.executable).with_name("bridge")
    env = {**os.environ, "BRIDGE_DATABASE_URL": stack.settings.database_url}
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


async def _events(stack: Stack, personnummer: str, expected: list[str]) -> bool:
    return await events_at_treserva(stack, personnummer) == expected


async def _actors(stack: Stack, delivery_id: str) -> list[tuple[str, str]]:
    async with stack.bridge.bridge.db.session() as session:
        rows = await session.execute(
            select(AuditRow.action, AuditRow.actor).where(AuditRow.delivery_id == delivery_id)
        )
        return [(action, actor) for action, actor in rows.all()]
