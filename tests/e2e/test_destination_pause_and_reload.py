"""Issue 13: a paused destination holds its backlog (no attempts, no dead letters, its maximum
age not used up) and drains in order on resume; the routing file reloads while serving,
refused whole when wrong. Operator actions are audited. Both runtime modes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import Stack
from delivery_support import (
    delivery_stack,
    events_at_treserva,
    send_admission,
    send_discharge,
    status_of,
)
from messages import synthetic_personnummer
from services import wait_until
from sqlalchemy import select

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.entrypoints.routing_reload import ReloadRefused, RoutingReloader, reloading
from bridge.entrypoints.runner import running_bridge
from bridge.service.operations.users import Role, Users
from bridge.store.tables import AuditRow, DeliveryRow
from treserva_sim.server import RunningTreserva


async def _cli(settings: Settings, cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRIDGE_DATABASE_URL": settings.database_url}
    if settings.routing_file is not None:
        env["BRIDGE_ROUTING_FILE"] = str(settings.routing_file)
    else:
        env.pop("BRIDGE_ROUTING_FILE", None)
        env["BRIDGE_TRESERVA_URL"] = settings.treserva_url
    return await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("bridge")), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _audited(bridge: Bridge, action: str) -> list[tuple[str, str]]:
    async with bridge.db.session() as session:
        rows = (await session.scalars(select(AuditRow).where(AuditRow.action == action))).all()
    return [(row.actor, row.action) for row in rows]


async def test_a_paused_destination_holds_its_backlog_and_drains_in_order_on_resume(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    # Given a bridge whose notices die after one second of transient failures
    async with delivery_stack(settings, treserva, max_age_seconds=1.0) as (stack, switchboard, _):
        bridge = stack.bridge.bridge

        # When an operator pauses Treserva, and a patient's admission and discharge arrive
        with pytest.raises(ValueError, match="reason"):
            await bridge.pauses.pause("treserva", actor="olle.operator", reason=" ")
        await bridge.pauses.pause("treserva", actor="olle.operator", reason="upgrade window")
        bridge.relay.pauses_changed()
        anna = synthetic_personnummer()
        admission = await send_admission(stack, anna)
        discharge = await send_discharge(stack, anna)

        # Then, well past the maximum age, nothing was tried and nothing is dead
        await asyncio.sleep(2.5)  # the point is that nothing happens in this time
        assert switchboard.attempts("admission") == switchboard.attempts("discharge") == 0
        assert await status_of(stack, admission) == await status_of(stack, discharge) == "pending"
        listed = await _cli(settings, tmp_path, "destinations", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        [state] = json.loads(listed.stdout)
        assert (state["name"], state["paused"], state["waiting"]) == ("treserva", True, 2)
        assert (state["paused_by"], state["reason"]) == ("olle.operator", "upgrade window")

        # When it is resumed from the CLI
        resumed = await _cli(
            settings, tmp_path, "destinations", "resume", "treserva", "--as", "ida"
        )
        assert resumed.returncode == 0, resumed.stderr
        assert "2 waiting notice(s)" in resumed.stdout

        # Then the backlog is delivered, in the patient's order, none dead
        await wait_until(
            lambda: _events_are(stack, anna, ["admission", "discharge"]), within=20, what="drain"
        )

        async def all_delivered() -> bool:
            # Treserva files a notice just before the bridge records its answer.
            async with bridge.db.session() as session:
                found = set((await session.scalars(select(DeliveryRow.status))).all())
            assert found <= {"delivered", "in_flight"}, found
            return found == {"delivered"}

        await wait_until(all_delivered, within=10, what="every delivery recorded delivered")
        # And both actions are audited with who did them
        assert await _audited(bridge, "destination_paused") == [
            ("olle.operator", "destination_paused")
        ]
        assert await _audited(bridge, "destination_resumed") == [("ida", "destination_resumed")]
        again = await _cli(settings, tmp_path, "destinations", "resume", "treserva")
        assert again.returncode == 1 and "not paused" in again.stderr


async def _events_are(stack: Stack, personnummer: str, expected: list[str]) -> bool:
    return await events_at_treserva(stack, personnummer) == expected


def _routing(path: Path, treserva: RunningTreserva, events: str, destination: str) -> Path:
    path.write_text(
        f"""
destinations:
  - name: treserva
    address: {treserva.base_url}/fhir
routes:
  - events: [{events}]
    destinations: [{destination}]
""",
        encoding="utf-8",
    )
    return path


async def test_the_routing_file_reloads_when_asked_and_a_wrong_one_is_refused_whole(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    # Given a bridge serving a routing file that sends admissions only
    path = _routing(tmp_path / "routing.yaml", treserva, "admission", "treserva")
    settings = settings.model_copy(
        update={"routing_file": path, "routing_reload_poll_seconds": 0.1}
    )
    async with delivery_stack(settings, treserva) as (stack, switchboard, _):
        bridge = stack.bridge.bridge
        reloader = RoutingReloader(bridge)
        await reloader.start()
        anna = synthetic_personnummer()
        await send_admission(stack, anna)
        await send_discharge(stack, anna)
        await wait_until(lambda: _events_are(stack, anna, ["admission"]), within=10)
        before = bridge.routing

        # When the file is changed to a wrong one (a route to an unknown destination)
        _routing(path, treserva, "admission, discharge", "nowhere")
        with pytest.raises(ReloadRefused, match="nowhere"):
            await reloader.reload(actor="olle.operator")
        refused = await _cli(settings, tmp_path, "routes", "reload", "--as", "olle.operator")

        # Then it is refused whole, from SIGHUP's path and from the CLI, and audited
        assert bridge.routing is before
        assert refused.returncode == 2 and "nowhere" in refused.stderr
        assert await _audited(bridge, "routing_reload_refused") == [
            ("olle.operator", "routing_reload_refused"),
            ("olle.operator", "routing_reload_refused"),
        ]

        # When it is corrected and `bridge routes reload` asks every serving bridge
        _routing(path, treserva, "admission, discharge", "treserva")
        async with reloading(bridge):
            done = await _cli(settings, tmp_path, "routes", "reload", "--as", "olle.operator")
            assert done.returncode == 0, done.stderr
            await wait_until(
                lambda: _routes_event(bridge, "discharge"), within=10, what="the reload applied"
            )
            # And SIGHUP reloads this process too
            _routing(path, treserva, "admission, discharge, transfer", "treserva")
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_until(
                lambda: _routes_event(bridge, "transfer"), within=10, what="SIGHUP reload"
            )

        # Then the new routes apply to what comes next
        bertil = synthetic_personnummer()
        await send_admission(stack, bertil)
        await send_discharge(stack, bertil)
        await wait_until(lambda: _events_are(stack, bertil, ["admission", "discharge"]), within=10)
        assert await _events_are(stack, anna, ["admission"])
        assert await _audited(bridge, "routing_reloaded") == [
            ("bridge routes reload", "routing_reloaded"),
            ("SIGHUP", "routing_reloaded"),
        ]
        assert switchboard.attempts("discharge") == 1


async def _routes_event(bridge: Bridge, event: str) -> bool:
    return any(event in {e.value for e in route.events} for route in bridge.routing.routes)


async def test_serve_refuses_to_reload_without_a_routing_file(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_bridge(settings) as running:
        reloader = RoutingReloader(running.bridge)
        with pytest.raises(ReloadRefused, match="no routing file"):
            await reloader.reload(actor="SIGHUP")
    done = await _cli(settings, tmp_path, "routes", "reload")
    assert done.returncode == 2 and "no routing file" in done.stderr


PASSWORD = "a-long-test-password"


async def test_operators_pause_and_resume_from_the_ops_api_and_viewers_may_not(
    stack: Stack,
) -> None:
    # Given an operator and a viewer signed in to the ops API
    bridge = stack.bridge.bridge
    users = Users(bridge.db, bridge.clock)
    await users.add("olle", PASSWORD, Role.OPERATOR, actor="test")
    await users.add("vera", PASSWORD, Role.VIEWER, actor="test")
    async with (
        httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as operator,
        httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as viewer,
    ):
        tokens = {}
        for name, client in (("olle", operator), ("vera", viewer)):
            signed = await client.post(
                "/ops/api/session", json={"username": name, "password": PASSWORD}
            )
            tokens[name] = {"X-CSRF-Token": signed.json()["csrf_token"]}

        # When the viewer tries to pause Treserva, and the operator does
        refused = await viewer.post(
            "/ops/api/destinations/treserva/pause",
            json={"reason": "test"},
            headers=tokens["vera"],
        )
        no_reason = await operator.post(
            "/ops/api/destinations/treserva/pause", json={"reason": ""}, headers=tokens["olle"]
        )
        paused = await operator.post(
            "/ops/api/destinations/treserva/pause",
            json={"reason": "upgrade window"},
            headers=tokens["olle"],
        )
        twice = await operator.post(
            "/ops/api/destinations/treserva/pause",
            json={"reason": "again"},
            headers=tokens["olle"],
        )
        listed = (await viewer.get("/ops/api/destinations")).json()
        overview = (await viewer.get("/ops/")).text
        resumed = await operator.post(
            "/ops/api/destinations/treserva/resume", headers=tokens["olle"]
        )

    # Then only the operator could, with a reason, once; the overview says so; both audited
    assert (refused.status_code, no_reason.status_code) == (403, 422)
    assert (paused.status_code, twice.status_code, resumed.status_code) == (200, 409, 200)
    assert [(s["name"], s["paused"], s["paused_by"]) for s in listed] == [
        ("treserva", True, "olle")
    ]
    assert "Paused by olle" in overview and "upgrade window" in overview
    assert await _audited(bridge, "destination_paused") == [("olle", "destination_paused")]
    assert await _audited(bridge, "destination_resumed") == [("olle", "destination_resumed")]
