"""Whole episodes through a bridge routed by the documented example routing file.

TakeCare plays episodes over MLLP; the bridge sends every notice to Treserva (FHIR over HTTP)
and, the patients having a primary-care unit, to TakeCare's primary-care endpoint (HL7 v2 over
MLLP); Treserva confirms each notice with a receipt and enrols a patient in home care, which the
bridge carries back to TakeCare (FHIR over HTTP). Everything over real sockets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from services import wait_until

from bridge.config import Settings
from bridge.entrypoints.runner import RunningBridge, running_bridge
from takecare_sim import Mix, RunningTakeCare, SendOptions, receiving, send_episodes
from takecare_sim.inbox import InboxItem
from treserva_sim import TreservaSettings, running
from treserva_sim.server import RunningTreserva

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
EVENT_CODES = {
    "A01": "admission",
    "A08": "estimated-discharge-changed",
    "A16": "discharge-ready",
    "A25": "discharge-ready-withdrawn",
    "A03": "discharge",
    "A13": "discharge-cancelled",
    "A11": "admission-cancelled",
    "S12": "sip-meeting-booked",
    "S13": "sip-meeting-moved",
    "S15": "sip-meeting-cancelled",
}
HL7_TYPES = {kind: ("SIU^" if kind.startswith("S") else "ADT^") + kind for kind in EVENT_CODES}


@dataclass
class World:
    takecare: RunningTakeCare
    treserva: RunningTreserva
    bridge: RunningBridge


def routing_file(tmp_path: Path, treserva: RunningTreserva, takecare: RunningTakeCare) -> Path:
    """The example routing file, with the simulators' actual addresses."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for default, actual in (
        ("http://127.0.0.1:8081/fhir", f"{treserva.base_url}/fhir"),
        ("mllp://127.0.0.1:2576", takecare.mllp_address),
        ("http://127.0.0.1:8082/fhir", takecare.fhir_base),
    ):
        assert default in text
        text = text.replace(default, actual)
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with receiving() as takecare, running(TreservaSettings(seed=2)) as treserva:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
            routing_file=routing_file(tmp_path, treserva, takecare),
            http_port=0,
            mllp_port=0,
            relay_interval_seconds=0.05,
            backoff_initial_seconds=0.05,
            backoff_max_seconds=0.5,
        )
        async with running_bridge(settings) as bridge:
            treserva.bridge_link.point_at(f"{bridge.base_url}/fhir")
            yield World(takecare, treserva, bridge)


def per_patient(items: list[tuple[str | None, str]]) -> dict[str | None, list[str]]:
    grouped: dict[str | None, list[str]] = defaultdict(list)
    for patient, code in items:
        grouped[patient].append(code)
    return dict(grouped)


def over_mllp(takecare: RunningTakeCare) -> list[InboxItem]:
    return [item for item in reversed(takecare.inbox.items()) if item.channel == "mllp"]


async def test_episodes_reach_home_care_and_primary_care_in_order(world: World) -> None:
    # Given TakeCare playing four whole episodes, with undoings
    options = SendOptions(host="127.0.0.1", port=world.bridge.mllp_port)
    notices = await send_episodes(
        options, episodes=4, seed=11, mix=Mix(0.25, 0.5, 0.5, 0.5, 0.5), concurrency=3
    )
    # Then the bridge accepted every message
    assert [n.ack_code for n in notices] == ["AA"] * len(notices)
    assert {n.event for n in notices} >= {"A01", "A08", "A16", "S12", "A03"}
    sent = per_patient([(n.patient_identifier, n.event) for n in notices])

    # And Treserva filed every notice, each patient's in the order TakeCare sent them
    inbox = world.treserva.reception.inbox
    await wait_until(lambda: inbox.count() == len(notices), within=30, what="Treserva's inbox")
    filed = per_patient([(i.patient_identifier, i.event_code) for i in reversed(inbox.items())])
    assert filed == {p: [EVENT_CODES[k] for k in kinds] for p, kinds in sent.items()}

    # And the primary-care endpoint got them as HL7 v2 over MLLP, in the same order
    await wait_until(
        lambda: len(over_mllp(world.takecare)) == len(notices), within=30, what="TakeCare's MLLP"
    )
    primary_care = per_patient(
        [(i.patient_identifier, i.event_code) for i in over_mllp(world.takecare)]
    )
    assert primary_care == {p: [HL7_TYPES[k] for k in kinds] for p, kinds in sent.items()}

    # And Treserva confirmed each notice with a receipt the bridge took
    stats = world.treserva.reception.stats
    await wait_until(lambda: stats.receipts_sent == len(notices), within=30, what="receipts")
    assert stats.receipts_failed == 0


async def test_a_home_care_enrolment_reaches_takecare(world: World) -> None:
    # Given a patient admitted in TakeCare and notified to Treserva
    options = SendOptions(host="127.0.0.1", port=world.bridge.mllp_port)
    notices = await send_episodes(options, episodes=1, seed=5, mix=Mix(0, 0, 0, 0, 0))
    patient = notices[0].patient_identifier
    inbox = world.treserva.reception.inbox
    await wait_until(lambda: inbox.count() == len(notices), within=30, what="Treserva's inbox")
    # When home care enrols that patient
    async with httpx.AsyncClient(base_url=world.treserva.base_url, timeout=10) as client:
        answer = await client.post("/api/enrolments", json={"status": "started"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["bridge_code"] == "ok"

    # Then the bridge carries it to TakeCare as a FHIR message
    def enrolments() -> list[InboxItem]:
        return [
            item
            for item in world.takecare.inbox.items()
            if item.event_code == "homecare-enrolment-started"
        ]

    await wait_until(lambda: bool(enrolments()), within=30, what="the enrolment at TakeCare")
    (item,) = enrolments()
    assert (item.format, item.channel, item.patient_identifier) == ("fhir", "http", patient)
