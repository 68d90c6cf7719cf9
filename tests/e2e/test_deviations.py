"""Issue 6, must show 3: a late admission notice becomes a collaboration deviation whose alert
reaches its routed destination exactly once, shows in the list, and whose closing is audited.

A whole bridge runs with every entrypoint and background task (the deadline check every 50 ms)
on a controllable clock; the admission notice goes in over HTTP as HL7 v2, 24 h 5 min after the
admission it announces. Treserva and the hospital's quality inbox are two real Treserva
simulators (HTTP). Both runtime modes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import mode_settings
from services import wait_until
from sqlalchemy import select

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    CareTransitionEvent,
    CareUnit,
    Encounter,
    EventCode,
    MessageOrigin,
    Patient,
    PatientIdentifier,
)
from bridge.domain.routing import HOSPITAL_EVENTS
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.care.deviations import DeviationFilter
from bridge.service.delivery.accept import Inbound
from bridge.service.operations import audit
from bridge.service.operations.users import Role, Users
from bridge.store.tables import AuditRow, DeliveryRow
from support.playback import ManualClock
from treserva_sim.server import RunningTreserva, running

ADMITTED = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
WARD = CareUnit(hsa_id="SE2321000222-7M05", name="Avd 5 Medicin", code="M5")
PERSONNUMMER = "194403129804"  # synthetic: serial 98x, valid check digit
NOWHERE = "http://127.0.0.1:9/fhir"  # nothing listens: deliveries just wait


@pytest.fixture
async def quality_inbox() -> AsyncIterator[RunningTreserva]:
    """The hospital's quality inbox (a second Treserva simulator: it files any FHIR message)."""
    async with running(port=0) as sim:
        yield sim


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.postgres)])
def settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    treserva: RunningTreserva,
    quality_inbox: RunningTreserva,
) -> Iterator[Settings]:
    with mode_settings(request.param, tmp_path, treserva) as chosen:
        routing = tmp_path / "routing.yaml"
        routing.write_text(yaml.safe_dump(_routing(treserva, quality_inbox)), encoding="utf-8")
        yield chosen.model_copy(
            update={"routing_file": routing, "deadline_check_interval_seconds": 0.05}
        )


def _routing(treserva: RunningTreserva, quality: RunningTreserva) -> dict[str, Any]:
    hospital = sorted(code.value for code in HOSPITAL_EVENTS if code is not EventCode.DEVIATION)
    return {
        "sources": [
            {"name": "takecare", "facilities": ["VISBY-LASARETT"]},
            {"name": "bridge", "facilities": ["bridge"]},
        ],
        "destinations": [
            {"name": "treserva", "address": f"{treserva.base_url}/fhir"},
            {"name": "quality", "address": f"{quality.base_url}/fhir"},
        ],
        "routes": [
            {"events": hospital, "source": "takecare", "destinations": ["treserva"]},
            {"events": ["deviation"], "source": "bridge", "destinations": ["quality"]},
        ],
    }


@pytest.fixture
async def bridge(settings: Settings) -> AsyncIterator[RunningBridge]:
    clock = ManualClock(ADMITTED + timedelta(hours=24, minutes=5))
    async with running_bridge(settings, bridge=Bridge(settings, clock=clock)) as running_one:
        yield running_one


def late_admission_notice() -> str:
    event = CareTransitionEvent(
        event=EventCode.ADMISSION,
        origin=MessageOrigin(
            sending_application="TakeCare",
            sending_facility="VISBY-LASARETT",
            message_id="TC-LATE-0001",
            sent_at=ADMITTED + timedelta(hours=24, minutes=5),
        ),
        occurred_at=ADMITTED,
        patient=Patient(
            identifiers=(PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value=PERSONNUMMER),)
        ),
        encounter=Encounter(visit_number="V-LATE-1", admitted_at=ADMITTED, unit=WARD),
    )
    return encode_hl7(event, control_id="TC-LATE-0001", now=ADMITTED + timedelta(hours=24))


async def inbox(sim: RunningTreserva) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{sim.base_url}/api/inbox")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()
    return items


async def test_a_late_admission_notice_is_alerted_once_listed_and_closed_with_an_audit_trail(
    bridge: RunningBridge, treserva: RunningTreserva, quality_inbox: RunningTreserva
) -> None:
    # Given an admission notice sent 24 h 5 min after the admission
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{bridge.base_url}/hl7v2",
            content=late_admission_notice().encode(),
            headers={"content-type": "application/hl7-v2"},
        )
    assert "MSA|AA|" in response.text

    # When the bridge delivers it and its deadline check runs (every 50 ms, many times)
    async def alerted() -> bool:
        return any(item["event_code"] == "deviation" for item in await inbox(quality_inbox))

    await wait_until(lambda: inbox(treserva), within=10, what="the notice delivered")
    await wait_until(alerted, within=10, what="the deviation alerted to the quality inbox")
    checks = [bridge.bridge.deadlines.check() for _ in range(3)]
    await asyncio.gather(*checks)  # as if three more bridge processes checked at once
    await wait_until(lambda: _settled(bridge), within=5, what="alert delivery settled")
    await asyncio.sleep(0.3)  # several more periodic checks; nothing new may arrive

    # Then exactly one deviation alert reached the quality inbox, naming rule, unit, lateness
    items = [item for item in await inbox(quality_inbox) if item["event_code"] == "deviation"]
    assert len(items) == 1
    issue = _detected_issue(items[0]["bundle"])
    assert issue["identifier"][0]["value"]
    assert "sent 5 min late" in issue["detail"]
    assert "Avd 5 Medicin" in issue["detail"]
    assert items[0]["patient_identifier"] == PERSONNUMMER

    # And it shows in the list for quality staff
    deviations = bridge.bridge.deviations
    [listed] = await deviations.find(DeviationFilter(status="open"))
    assert listed.rule_id == "admission-notice-24h"
    assert (listed.kind, listed.failed_step, listed.responsible) == ("late", "sent", "sender")
    assert listed.late_by == timedelta(minutes=5)
    assert listed.sending_unit is not None and listed.sending_unit.hsa_id == WARD.hsa_id
    assert listed.receivers == ("treserva",)
    assert listed.status == "open"
    assert listed.id == issue["identifier"][0]["value"]

    # When a person comments and closes it
    await deviations.comment(listed.id, by="Maria Kvalitet", text="Ringt avdelningen.")
    await deviations.close(listed.id, by="Maria Kvalitet", reason="Rutin genomgången med avd 5.")

    # Then who and why are kept, on the deviation and in the verified audit log
    closed, notes = await deviations.show(listed.id)
    assert (closed.status, closed.closed_by) == ("closed", "Maria Kvalitet")
    assert closed.close_reason == "Rutin genomgången med avd 5."
    assert [(n.author, n.action) for n in notes] == [
        ("Maria Kvalitet", "comment"),
        ("Maria Kvalitet", "closed"),
    ]
    rows = await _audit(bridge, "deviation_closed")
    assert [(row.actor, json.loads(row.detail)["text"]) for row in rows] == [
        ("Maria Kvalitet", "Rutin genomgången med avd 5.")
    ]
    assert (await audit.verify(bridge.bridge.db)).ok
    assert await deviations.find(DeviationFilter(status="open")) == []


async def _settled(bridge: RunningBridge) -> bool:
    async with bridge.bridge.db.session() as session:
        states = list(await session.scalars(select(DeliveryRow.status)))
    return bool(states) and all(state == "delivered" for state in states)


async def _audit(bridge: RunningBridge, action: str) -> list[AuditRow]:
    async with bridge.bridge.db.session() as session:
        return list(
            await session.scalars(
                select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)
            )
        )


def _detected_issue(bundle: dict[str, Any]) -> dict[str, Any]:
    [issue] = [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "DetectedIssue"
    ]
    return issue


def test_quality_staff_list_and_close_deviations_from_the_command_line(tmp_path: Path) -> None:
    # Given a database with one deviation (made by a bridge on the controllable clock)
    database = tmp_path / "bridge.db"
    asyncio.run(_one_deviation(f"sqlite:///{database}", tmp_path))
    env = {**os.environ, "BRIDGE_DATABASE_URL": f"sqlite:///{database}"}
    bridge_cli = Path(sys.executable).with_name("bridge")

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bridge_cli), "deviations", *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # When it is listed, then closed with a reason
    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)
    assert item["rule"] == "admission-notice-24h" and item["late_by_minutes"] == 5.0
    closed = run("close", item["id"], "--as", "Olle Kvalitet", "--reason", "Åtgärdat.")
    again = run("close", item["id"], "--as", "Olle Kvalitet", "--reason", "Igen.")

    # Then it is closed once, and no longer in the open list
    assert closed.returncode == 0, closed.stderr
    assert again.returncode == 1 and "already closed" in again.stderr
    shown = json.loads(run("show", item["id"], "--json").stdout)
    assert (shown["status"], shown["closed_by"], shown["close_reason"]) == (
        "closed",
        "Olle Kvalitet",
        "Åtgärdat.",
    )
    assert json.loads(run("list", "--json").stdout) == []


async def _one_deviation(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, treserva_url=NOWHERE, http_port=0, mllp_port=0)
    clock = ManualClock(ADMITTED + timedelta(hours=24, minutes=5))
    bridge = Bridge(settings, clock=clock)
    await bridge.start(deliver=False)
    try:
        result = await bridge.accept(
            Inbound(late_admission_notice().encode(), "application/hl7-v2", "http", "cid-1")
        )
        assert result.ok
        report = await bridge.deadlines.check()
        assert len(report.opened) == 1
    finally:
        await bridge.stop()


async def test_through_the_ops_api_a_viewer_reads_and_an_operator_closes_with_an_audit(
    tmp_path: Path,
) -> None:
    # Given a bridge with one deviation, a viewer and an operator signed in over the ops API
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        treserva_url=NOWHERE,
        http_port=0,
        mllp_port=0,
    )
    await _one_deviation(settings.database_url, tmp_path)
    clock = ManualClock(ADMITTED + timedelta(days=2))
    async with running_bridge(settings, bridge=Bridge(settings, clock=clock)) as running_one:
        users = Users(running_one.bridge.db, clock)
        await users.add("vera", "a-long-test-password", Role.VIEWER, actor="test")
        await users.add("olle", "a-long-test-password", Role.OPERATOR, actor="test")
        async with (
            httpx.AsyncClient(base_url=running_one.base_url) as viewer,
            httpx.AsyncClient(base_url=running_one.base_url) as operator,
        ):
            tokens = {}
            for client, name in ((viewer, "vera"), (operator, "olle")):
                signed = await client.post(
                    "/ops/api/session", json={"username": name, "password": "a-long-test-password"}
                )
                tokens[name] = {"X-CSRF-Token": signed.json()["csrf_token"]}

            # When the viewer lists and tries to close, and the operator closes
            found = (await viewer.get("/ops/api/deviations")).json()
            [listed] = [d for d in found if d["rule"] == "admission-notice-24h"]
            url = f"/ops/api/deviations/{listed['id']}/close"
            refused = await viewer.post(url, json={"text": "no"}, headers=tokens["vera"])
            closed = await operator.post(url, json={"text": "Åtgärdat."}, headers=tokens["olle"])
            again = await operator.post(url, json={"text": "igen"}, headers=tokens["olle"])
            report = await viewer.get("/ops/api/indicators/measure-report?month=2025-03")

        # Then only the operator could, once, and the audit log has who, why and who looked
        assert listed["patient"].endswith("-****")
        assert (refused.status_code, closed.status_code, again.status_code) == (403, 200, 409)
        [row] = await _audit(running_one, "deviation_closed")
        assert (row.actor, json.loads(row.detail)["text"]) == ("olle", "Åtgärdat.")
        assert [r.actor for r in await _audit(running_one, "deviations_viewed")] == ["vera"]
        assert report.headers["content-type"] == "application/fhir+json"
        assert report.json()["resourceType"] == "MeasureReport"
