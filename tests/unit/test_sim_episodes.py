"""Episodes from the TakeCare simulator: whole, in order, reproducible, and per docs/mapping.md.

Every message is checked twice, independently: hl7apy parses it as valid HL7 v2 of its version,
and the bridge's decoder reads the canonical event the step stands for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import pytest
from hl7apy.parser import parse_message

from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.model import EventCode, ResponsibleParty
from takecare_sim.episode_messages import build_step
from takecare_sim.episodes import Mix, PlannedMessage, plan_messages
from takecare_sim.er7 import STOCKHOLM
from takecare_sim.messages import SUPPORTED_VERSIONS, Sender

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=STOCKHOLM)
ALWAYS = Mix(1.0, 1.0, 1.0, 1.0, 1.0)
EVERY_UNDOING = Mix(0.0, 1.0, 1.0, 1.0, 1.0)
EVENTS = {
    "A01": EventCode.ADMISSION,
    "A08": EventCode.ESTIMATED_DISCHARGE_CHANGED,
    "A16": EventCode.DISCHARGE_READY,
    "A25": EventCode.DISCHARGE_READY_WITHDRAWN,
    "A03": EventCode.DISCHARGE,
    "A13": EventCode.DISCHARGE_CANCELLED,
    "A11": EventCode.ADMISSION_CANCELLED,
    "S12": EventCode.SIP_MEETING_BOOKED,
    "S13": EventCode.SIP_MEETING_MOVED,
    "S15": EventCode.SIP_MEETING_CANCELLED,
}


def kinds_by_episode(plan: list[PlannedMessage]) -> dict[int, list[str]]:
    steps: dict[int, list[str]] = defaultdict(list)
    for planned in plan:
        steps[planned.episode].append(planned.step.kind)
    return dict(steps)


def build(planned: PlannedMessage, control_id: str = "TC0001", version: str = "2.5") -> str:
    return build_step(planned.admission, planned.step, control_id, NOW, Sender(version=version))


def test_an_episode_runs_from_admission_to_discharge() -> None:
    # Given no cancellations at all
    plan = plan_messages(3, seed=1, now=NOW, mix=Mix(0, 0, 0, 0, 0))
    # Then every episode is the law's chain, in order
    for steps in kinds_by_episode(plan).values():
        assert steps == ["A01", "A08", "A16", "S12", "A03"]


def test_undoings_happen_where_they_belong() -> None:
    plan = plan_messages(2, seed=1, now=NOW, mix=EVERY_UNDOING)
    for steps in kinds_by_episode(plan).values():
        assert steps == [
            "A01", "A08", "A16", "A25", "A16", "S12", "S13", "S15", "S12", "A03", "A13", "A03",
        ]  # fmt: skip


def test_a_cancelled_admission_ends_the_episode() -> None:
    plan = plan_messages(2, seed=1, now=NOW, mix=ALWAYS)
    assert list(kinds_by_episode(plan).values()) == [["A01", "A11"], ["A01", "A11"]]


def test_the_default_mix_cancels_now_and_then() -> None:
    counts = Counter(p.step.kind for p in plan_messages(400, seed=3, now=NOW))
    assert counts["A01"] == 400
    for kind in ("A11", "A25", "S13", "S15", "A13"):
        assert 0 < counts[kind] < 100, kind


def test_the_same_seed_plays_the_same_episodes() -> None:
    first, second = plan_messages(20, seed=9, now=NOW), plan_messages(20, seed=9, now=NOW)
    assert [build(p, f"C{n}") for n, p in enumerate(first)] == [
        build(p, f"C{n}") for n, p in enumerate(second)
    ]
    other = plan_messages(20, seed=10, now=NOW)
    assert [p.admission.patient for p in first] != [p.admission.patient for p in other]


def test_patients_interleave_but_each_keeps_its_order() -> None:
    # Given four patients at a time
    plan = plan_messages(12, seed=4, now=NOW, concurrency=4)
    # Then episodes overlap, and each patient's messages are in episode order
    order = [p.episode for p in plan]
    assert order != sorted(order)
    patients = {p.episode: p.admission.patient.identifier for p in plan}
    assert len(set(patients.values())) == 12
    for steps in kinds_by_episode(plan).values():
        assert steps[0] == "A01" and steps[-1] in ("A03", "A11")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_hl7apy_parses_every_kind_of_message(version: str) -> None:
    plan = plan_messages(3, seed=2, now=NOW, mix=EVERY_UNDOING)
    plan += plan_messages(1, seed=2, now=NOW, mix=ALWAYS)
    assert {p.step.kind for p in plan} == set(EVENTS)
    for n, planned in enumerate(plan):
        message = parse_message(build(planned, f"TC{n:06d}", version), find_groups=False)
        assert message.msh.msh_10.value == f"TC{n:06d}"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_the_bridge_reads_each_step_as_its_event(version: str) -> None:
    plan = plan_messages(3, seed=2, now=NOW, mix=EVERY_UNDOING)
    plan += plan_messages(1, seed=2, now=NOW, mix=ALWAYS)
    for planned in plan:
        event = decode_hl7(build(planned, version=version))
        assert event.event is EVENTS[planned.step.kind]
        assert event.patient is not None
        assert event.patient.primary_identifier.value == planned.admission.patient.identifier


def test_the_estimated_discharge_date_travels_in_pv2_9() -> None:
    planned = next(p for p in plan_messages(1, seed=6, now=NOW) if p.step.kind == "A08")
    event = decode_hl7(build(planned))
    assert event.encounter is not None and event.encounter.estimated_discharge is not None
    assert event.encounter.estimated_discharge.date() == planned.step.estimated_discharge


def test_a_discharge_carries_its_time_and_the_discharge_ready_its_judgement() -> None:
    plan = plan_messages(1, seed=6, now=NOW, mix=Mix(0, 0, 0, 0, 0))
    discharge = decode_hl7(build(next(p for p in plan if p.step.kind == "A03")))
    ready = decode_hl7(build(next(p for p in plan if p.step.kind == "A16")))
    assert discharge.encounter is not None and discharge.encounter.discharged_at == NOW
    assert ready.occurred_at == NOW


@pytest.mark.parametrize("version", ["2.3", "2.5", "2.8"])
def test_a_sip_meeting_carries_time_place_and_participants(version: str) -> None:
    plan = plan_messages(1, seed=6, now=NOW, mix=EVERY_UNDOING)
    booked, moved, cancelled = (
        next(p for p in plan if p.step.kind == kind) for kind in ("S12", "S13", "S15")
    )
    meeting = decode_hl7(build(booked, version=version)).sip_meeting
    planned = booked.step.meeting
    assert meeting is not None and planned is not None
    assert (meeting.appointment_id, meeting.status) == (planned.appointment_id, "booked")
    assert (meeting.start, meeting.end, meeting.location) == (
        planned.start,
        planned.end,
        planned.location,
    )
    assert [(p.kind, p.hsa_id, p.party) for p in meeting.participants] == [
        ("unit", planned.participants[0].hsa_id, ResponsibleParty.MUNICIPALITY),
        ("person", planned.participants[1].hsa_id, ResponsibleParty.REGION),
        ("person", planned.participants[2].hsa_id, ResponsibleParty.MUNICIPALITY),
    ]
    moved_meeting = decode_hl7(build(moved, version=version)).sip_meeting
    assert moved_meeting is not None and moved_meeting.start != meeting.start
    cancelled_meeting = decode_hl7(build(cancelled, version=version)).sip_meeting
    assert cancelled_meeting is not None and cancelled_meeting.status == "cancelled"


def test_only_the_admission_carries_the_routine_fields() -> None:
    plan = plan_messages(1, seed=6, now=NOW, mix=Mix(0, 0, 0, 0, 0))
    for planned in plan:
        has_obx = "\rOBX|" in build(planned)
        assert has_obx is (planned.step.kind == "A01")
