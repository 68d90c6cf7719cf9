"""Issue 13, must-show 3: reprocessing.

- an unreceipted notice sent again reaches Treserva once; sent again after that, the Treserva
  simulator drops it as a repeat on its idempotency key;
- a message dead-lettered by a wrong route is run again through the corrected routing (a new
  bridge on the same database) and delivered, before the patient's notice held behind it;
- a dry run (the CLI, as an operator runs it) shows what would go where and changes nothing.
Both runtime modes where a bridge runs in the test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import Stack
from delivery_support import (
    deliveries_of,
    delivery_of,
    events_at_treserva,
    send_admission,
    send_discharge,
    until_status,
)
from messages import synthetic_personnummer
from services import wait_until
from sqlalchemy import create_engine, inspect, select, text

from bridge.config import Settings
from bridge.entrypoints.runner import running_bridge
from bridge.service.delivery.reprocess import Action, Outcome, ReprocessFilter
from bridge.service.operations.users import Role, Users
from bridge.store.db import sync_url
from bridge.store.tables import AuditRow
from support.cli_process import bridge_env, run_bridge
from treserva_sim.server import RunningTreserva

RECEIPT_TIMEOUT = 1.0


async def _faults(treserva: RunningTreserva, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{treserva.base_url}/api/faults", json=faults)
    response.raise_for_status()


async def _stats(treserva: RunningTreserva) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{treserva.base_url}/api/stats")
    response.raise_for_status()
    stats: dict[str, int] = response.json()
    return stats


async def _inbox_keys(treserva: RunningTreserva) -> list[str]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{treserva.base_url}/api/inbox")
    response.raise_for_status()
    return [item["idempotency_key"] for item in response.json()]


async def _audit_actions(stack: Stack, delivery_id: str) -> list[tuple[str, str, str]]:
    async with stack.bridge.bridge.db.session() as session:
        rows = await session.execute(
            select(AuditRow.action, AuditRow.actor, AuditRow.detail)
            .where(AuditRow.delivery_id == delivery_id)
            .order_by(AuditRow.id)
        )
        return [(a, b, c) for a, b, c in rows.all()]


async def test_an_unreceipted_notice_sent_again_is_filed_once_and_a_repeat_is_dropped(
    settings: Settings, treserva: RunningTreserva
) -> None:
    settings = settings.model_copy(
        update={"receipt_timeout_seconds": RECEIPT_TIMEOUT, "receipt_check_interval_seconds": 0.1}
    )
    async with running_bridge(settings) as bridge:
        stack = Stack(treserva, bridge, settings)
        treserva.bridge_link.point_at(f"{bridge.base_url}/fhir")
        # Given an admission Treserva answered 200 but never filed: it turned unreceipted
        await _faults(treserva, silent_drop=True)
        control = await send_admission(stack, synthetic_personnummer())
        await wait_until(
            lambda: _receipt_state(stack, control, "unreceipted"), within=RECEIPT_TIMEOUT + 10
        )
        row = await delivery_of(stack, control)
        assert await _inbox_keys(treserva) == []
        await _faults(treserva, silent_drop=False)

        # When an operator sends it again
        resent = await bridge.bridge.resender.resend(row.id, actor="anna", reason="lost by SOF")

        # Then Treserva files it once, under the same idempotency key, and confirms it
        assert resent.idempotency_key == row.idempotency_key
        await wait_until(lambda: _receipt_state(stack, control, "received"), within=10)
        assert await _inbox_keys(treserva) == [row.idempotency_key]
        duplicates_before = (await _stats(treserva))["duplicates"]

        # And when it is sent again although Treserva has it, Treserva drops the repeat
        await bridge.bridge.resender.resend(row.id, actor="anna", reason="checking the dedupe")
        await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
        await wait_until(
            lambda: _duplicates_above(treserva, duplicates_before), within=10, what="repeat seen"
        )
        assert await _inbox_keys(treserva) == [row.idempotency_key]
        actions = await _audit_actions(stack, row.id)
        resends = [(a, actor) for a, actor, _ in actions if a == "delivery_resent"]
        assert resends == [("delivery_resent", "anna")] * 2
        assert any("lost by SOF" in detail for a, _, detail in actions if a == "delivery_resent")


async def _receipt_state(stack: Stack, control: str, state: str) -> bool:
    return (await delivery_of(stack, control)).receipt_state == state


async def _duplicates_above(treserva: RunningTreserva, count: int) -> bool:
    return (await _stats(treserva))["duplicates"] > count


def _routing(path: Path, address: str) -> Path:
    events = ["admission", "discharge"]
    table = {
        "destinations": [{"name": "treserva", "address": address, "retry": {"max_age_seconds": 3}}],
        "routes": [{"events": events, "destinations": ["treserva"]}],
    }
    path.write_text(yaml.safe_dump(table), encoding="utf-8")
    return path


async def test_a_message_dead_lettered_by_a_wrong_route_is_delivered_after_the_correction(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    # Given a routing file naming a wrong address for Treserva (nothing listens there)
    wrong = settings.model_copy(
        update={"routing_file": _routing(tmp_path / "wrong.yaml", "http://127.0.0.1:9/fhir")}
    )
    personnummer = synthetic_personnummer()
    async with running_bridge(wrong) as bridge:
        stack = Stack(treserva, bridge, wrong)
        admission = await send_admission(stack, personnummer)
        await wait_until(lambda: until_status(stack, admission, "dead"), within=20)
        discharge = await send_discharge(stack, personnummer)
        dead = await delivery_of(stack, admission)
    assert await events_at_treserva(stack, personnummer) == []

    # When the routing is corrected, a bridge started on it, and the admission reprocessed
    right = settings.model_copy(
        update={"routing_file": _routing(tmp_path / "right.yaml", f"{treserva.base_url}/fhir")}
    )
    async with running_bridge(right) as bridge:
        stack = Stack(treserva, bridge, right)
        [message_id] = await bridge.bridge.reprocessor.message_ids(
            ReprocessFilter(outcome=Outcome.DEAD)
        )
        steps = await bridge.bridge.reprocessor.run(
            message_id, actor="anna", reason="Treserva address corrected"
        )

        # Then the dead delivery is encoded again for the current address, in its place
        assert [(s.action, s.destination, s.delivery_id) for s in steps] == [
            (Action.REWORK, "treserva", dead.id)
        ]
        await wait_until(lambda: until_status(stack, admission, "delivered"), within=15)
        await wait_until(lambda: until_status(stack, discharge, "delivered"), within=15)
        # And the admission reaches Treserva before the discharge held behind it
        assert await events_at_treserva(stack, personnummer) == ["admission", "discharge"]
        reworked = await delivery_of(stack, admission)
        assert reworked.idempotency_key != dead.idempotency_key
        assert f"{treserva.base_url}/fhir" in reworked.payload
        assert "127.0.0.1:9/" not in reworked.payload
        assert len(await deliveries_of(stack, admission)) == 1
        actions = await _audit_actions_of_message(stack, message_id)
        assert ("reprocessed", "anna") in actions


async def _audit_actions_of_message(stack: Stack, message_id: str) -> list[tuple[str, str]]:
    async with stack.bridge.bridge.db.session() as session:
        rows = await session.execute(
            select(AuditRow.action, AuditRow.actor).where(AuditRow.message_id == message_id)
        )
        return [(a, b) for a, b in rows.all()]


def _snapshot(database_url: str) -> dict[str, str]:
    """A digest of every table's every row: equal snapshots, unchanged database."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            digests: dict[str, str] = {}
            for table in sorted(inspect(connection).get_table_names()):
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
                lines = sorted(json.dumps([str(v) for v in row]) for row in rows)
                digests[table] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            return digests
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
async def test_a_dry_run_shows_what_would_go_where_and_changes_nothing(
    settings: Settings, treserva: RunningTreserva, tmp_path: Path
) -> None:
    # Given a dead-lettered admission (wrong address) and a delivered one, in a stopped bridge
    wrong = settings.model_copy(
        update={"routing_file": _routing(tmp_path / "wrong.yaml", "http://127.0.0.1:9/fhir")}
    )
    async with running_bridge(wrong) as bridge:
        stack = Stack(treserva, bridge, wrong)
        dead = await send_admission(stack, synthetic_personnummer())
        await wait_until(lambda: until_status(stack, dead, "dead"), within=20)
    right_file = _routing(tmp_path / "right.yaml", f"{treserva.base_url}/fhir")
    before = _snapshot(settings.database_url)

    # When an operator asks what reprocessing every message would do, with the corrected routing
    env: dict[str, Any] = {
        "BRIDGE_DATABASE_URL": settings.database_url,
        "BRIDGE_ROUTING_FILE": str(right_file),
    }
    result = run_bridge(
        ["reprocess", "--since", "2000-01-01T00:00:00", "--dry-run", "--json"],
        tmp_path,
        bridge_env(**env),
    )

    # Then it names the destination and its current address, and nothing in the database changed
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    [step] = plan["steps"]
    assert (step["action"], step["destination"]) == ("rework", "treserva")
    assert step["address"] == f"{treserva.base_url}/fhir"
    assert _snapshot(settings.database_url) == before

    # And the same without --dry-run needs a reason
    refused = run_bridge(
        ["reprocess", "--since", "2000-01-01T00:00:00"], tmp_path, bridge_env(**env)
    )
    assert refused.returncode == 1
    assert "--reason" in refused.stderr
    assert _snapshot(settings.database_url) == before


async def test_an_operator_resends_and_reprocesses_from_the_dashboard_and_the_api(
    stack: Stack,
) -> None:
    # Given a delivered admission and a signed-in operator
    control = await send_admission(stack, synthetic_personnummer())
    await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
    row = await delivery_of(stack, control)
    bridge = stack.bridge.bridge
    await Users(bridge.db, bridge.clock).add(
        "olle", "a-long-test-password", Role.OPERATOR, actor="test"
    )
    async with httpx.AsyncClient(base_url=stack.bridge.base_url, timeout=15) as client:
        signed = await client.post(
            "/ops/api/session", json={"username": "olle", "password": "a-long-test-password"}
        )
        csrf = signed.json()["csrf_token"]

        # When the operator opens the message, the page offers to resend and to reprocess
        page = await client.get(f"/ops/messages/{row.message_id}")
        assert page.status_code == 200
        assert f'id="resend-{row.id}"' in page.text
        assert 'id="reprocess-plan"' in page.text

        # When the operator asks the message page for the reprocessing plan (a dry run)
        plan = await client.post(f"/ops/messages/{row.message_id}/reprocess", data={"csrf": csrf})
        # Then the plan shows a new delivery to Treserva's current address, and nothing changed
        assert plan.status_code == 200, plan.text
        assert "treserva" in plan.text
        assert "Run it" in plan.text
        assert len(await deliveries_of(stack, control)) == 1

        # When the operator resends the notice from the page, with a reason
        page = await client.post(
            f"/ops/deliveries/{row.id}/resend", data={"csrf": csrf, "reason": "SOF asked"}
        )
        assert page.status_code == 303
        assert page.headers["location"].endswith("?done=resent")
        # Then it is delivered again, audited under the operator's name
        await wait_until(lambda: until_status(stack, control, "delivered"), within=10)
        actions = await _audit_actions(stack, row.id)
        assert ("delivery_resent", "olle") in [(a, actor) for a, actor, _ in actions]

        # And the API runs the reprocessing for real, audited, and refuses it without a reason
        refused = await client.post(
            "/ops/api/reprocess",
            json={"message_id": row.message_id, "dry_run": False},
            headers={"X-CSRF-Token": csrf},
        )
        assert refused.status_code == 422
        ran = await client.post(
            "/ops/api/reprocess",
            json={"message_id": row.message_id, "dry_run": False, "reason": "new mapping"},
            headers={"X-CSRF-Token": csrf},
        )
        assert ran.status_code == 200, ran.text
        [step] = ran.json()["steps"]
        assert (step["action"], step["destination"]) == ("new", "treserva")
        await wait_until(lambda: _all_delivered(stack, control, 2), within=10)
        assert ("reprocessed", "olle") in await _audit_actions_of_message(stack, row.message_id)


async def _all_delivered(stack: Stack, control: str, count: int) -> bool:
    rows = await deliveries_of(stack, control)
    return len(rows) == count and all(r.status == "delivered" for r in rows)
