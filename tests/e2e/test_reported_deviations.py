"""Issue 15, must show 3: a deviation a coordinator reports reaches the responsible unit's inbox
once, is counted in its category, and sits in one list (and one export) with the deviations
the bridge found itself in the same weeks of traffic.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from bridge.bootstrap import Bridge
from bridge.domain.episodes import STOCKHOLM
from bridge.domain.identifiers import IdentifierKind, luhn_check_digit
from bridge.domain.indicators import Month
from bridge.domain.model import (
    AdmissionInformation,
    CareTransitionEvent,
    Encounter,
    EventCode,
    HumanName,
    MessageOrigin,
    Patient,
    PatientIdentifier,
)
from bridge.domain.reported_deviations import CATEGORIES, EXPORT_COLUMNS, category_of_rule
from bridge.entrypoints.http import create_app
from bridge.service.care.deviations import DeviationFilter
from bridge.service.operations.users import Role, Users
from support.playback import CollectingBroker, month_settings, played
from support.ward_month import (
    TAKECARE,
    TAKECARE_FACILITY,
    WARDS,
    Send,
    WardMonth,
    generate,
)

MONTH = Month(2025, 10)
CUT = datetime(2025, 10, 16, 9, 30, tzinfo=STOCKHOLM)
PASSWORD = "synthetic-test-password"
MEDICINE, ORTHOPAEDICS = (ward.hsa_id or "" for ward in WARDS)


def configure(tmp_path: Path) -> Path:
    """Each ward has its own deviation inbox (a FHIR destination of the routing file)."""
    routing = yaml.safe_load((tmp_path / "routing.yaml").read_text(encoding="utf-8"))
    for name in ("avd5-avvikelser", "avd9-avvikelser"):
        routing["destinations"].append({"name": name, "address": f"http://{name}.example/fhir"})
    (tmp_path / "routing.yaml").write_text(yaml.safe_dump(routing), encoding="utf-8")
    units = [
        {"hsa_id": MEDICINE, "name": "Avd 5 Medicin", "inbox": "avd5-avvikelser"},
        {"hsa_id": ORTHOPAEDICS, "name": "Avd 9 Ortopedi", "inbox": "avd9-avvikelser"},
    ]
    path = tmp_path / "organisations.yaml"
    table = {"organisations": [{"id": "hsf", "name": "HSF", "units": units}]}
    path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    return path


async def deliver_all(bridge: Bridge) -> None:
    broker = bridge.broker
    assert isinstance(broker, CollectingBroker)
    while True:
        await bridge.relay.relay_once()
        if not broker.tasks:
            return
        tasks, broker.tasks = broker.tasks, []
        for task in tasks:
            await bridge.worker.handle(task)


async def sign_in(client: httpx.AsyncClient, username: str) -> str:
    answer = await client.post(
        "/ops/api/session", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf_token"])


@pytest.mark.timeout(360)  # weeks of traffic through a whole bridge
async def test_a_reported_deviation_reaches_its_units_inbox_and_counts_beside_the_automatic_ones(
    tmp_path: Path,
) -> None:
    # Given two wards' traffic up to 16 October, each ward with its own deviation inbox
    settings = month_settings(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path)
    settings = settings.model_copy(update={"care_organisations_file": configure(tmp_path)})
    async with played(generate(MONTH, admissions=90), settings, until=CUT) as (bridge, receivers):
        users = Users(bridge.db, bridge.clock)
        await users.add("samordnare", PASSWORD, Role.COORDINATOR, actor="test")
        await users.add("kvalitet", PASSWORD, Role.VIEWER, actor="test")
        await bridge.worklist.bind("samordnare", "hsf", (), actor="test")
        app = httpx.ASGITransport(app=create_app(bridge))
        async with (
            httpx.AsyncClient(transport=app, base_url="http://bridge") as coordinator,
            httpx.AsyncClient(transport=app, base_url="http://bridge") as quality,
        ):
            csrf = await sign_in(coordinator, "samordnare")
            stays = (await coordinator.get("/ops/api/worklist")).json()["stays"]
            stay = next(s for s in stays if s["unit"]["hsa_id"] == ORTHOPAEDICS)

            # When the coordinator reports a missing medication list against Avd 5
            answer = await coordinator.post(
                "/ops/api/worklist/deviations",
                json={
                    "episode_id": stay["episode_id"],
                    "category": "medication-list",
                    "unit": MEDICINE,
                    "description": "Läkemedelslista saknades vid överflyttning.",
                },
                headers={"X-CSRF-Token": csrf},
            )
            assert answer.status_code == 201, answer.text
            reported_id = answer.json()["id"]
            await deliver_all(bridge)

            # Then Avd 5's inbox got it exactly once, as a DetectedIssue in its category
            [received] = receivers.at("avd5-avvikelser")
            assert receivers.at("avd9-avvikelser") == []
            issues = [
                e["resource"]
                for e in received.bundle["entry"]
                if e["resource"]["resourceType"] == "DetectedIssue"
            ]
            assert [issue["code"]["coding"][0]["code"] for issue in issues] == ["medication-list"]
            assert issues[0]["implicated"][0]["identifier"]["value"] == MEDICINE
            assert received.event_code == "deviation"

            # And one list holds the automatic and the reported deviations, counted per category
            await sign_in(quality, "kvalitet")
            combined = (await quality.get("/ops/api/deviations/combined")).json()
            automatic = await bridge.deviations.find(DeviationFilter(limit=10000))
            assert automatic, "the weeks of traffic have automatic deviations"
            expected = {category: 0 for category in CATEGORIES}
            for deviation in automatic:
                expected[category_of_rule(deviation.rule_id, deviation.category)] += 1
            assert {c: n["automatic"] for c, n in combined["per_category"].items()} == expected
            assert combined["per_category"]["medication-list"]["reported"] == 1
            assert sum(n["total"] for n in combined["per_category"].values()) == len(automatic) + 1
            origins = {(d["id"], d["origin"]) for d in combined["deviations"]}
            assert (reported_id, "reported") in origins
            assert {d.id for d in automatic} <= {
                i for i, origin in origins if origin == "automatic"
            }

            # And the export has the documented columns, the same rows, and no personnummer
            export = await quality.get("/ops/deviations/export.csv")
            assert export.status_code == 200
            rows = list(csv.DictReader(io.StringIO(export.text)))
            assert tuple(rows[0]) == EXPORT_COLUMNS
            assert len(rows) == len(automatic) + 1
            assert not re.search(r"\b(19|20)\d{10}\b", export.text)

            # And a viewer cannot report (the coordinator role only)
            refused = await quality.post(
                "/ops/api/worklist/deviations",
                json={
                    "episode_id": stay["episode_id"],
                    "category": "other",
                    "unit": MEDICINE,
                    "description": "x",
                },
                headers={"X-CSRF-Token": "whatever"},
            )
            assert refused.status_code == 403


def admission(number: int, at: datetime, complete: bool) -> Send:
    born = date(1941, 3, number)
    nine = f"{born:%y%m%d}98{number}"
    person = f"{born:%Y%m%d}98{number}{luhn_check_digit(nine)}"
    event = CareTransitionEvent(
        event=EventCode.ADMISSION,
        origin=MessageOrigin(
            sending_application=TAKECARE,
            sending_facility=TAKECARE_FACILITY,
            message_id=f"CC{number:04d}",
            sent_at=at,
        ),
        occurred_at=at,
        patient=Patient(
            identifiers=(PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value=person),),
            name=HumanName(family="Testsson", given=("Greta",)),
            birth_date=born,
        ),
        encounter=Encounter(
            visit_number=f"CV{number}",
            admitted_at=at,
            unit=WARDS[0],
            estimated_discharge=at + timedelta(days=4) if complete else None,
        ),
        admission_info=AdmissionInformation(
            reason_for_admission="Fall i hemmet",
            housing_situation="Bor ensam i lägenhet",
            social_situation="Dotter i Visby",
            care_needs_assessment="Behöver hjälp med förflyttning",
        )
        if complete
        else AdmissionInformation(reason_for_admission="Pneumoni"),
    )
    return Send(at, event, TAKECARE, receipt_after=timedelta(minutes=5))


@pytest.mark.timeout(120)
async def test_an_admission_notice_without_the_routines_fields_is_delivered_and_flagged(
    tmp_path: Path,
) -> None:
    # Given wards with deviation inboxes, and two admission notices: one complete, one with
    # only a reason for admission
    settings = month_settings(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path)
    settings = settings.model_copy(update={"care_organisations_file": configure(tmp_path)})
    start = datetime(2025, 10, 6, 8, 0, tzinfo=STOCKHOLM)
    sends = [admission(1, start, complete=True), admission(2, start + timedelta(hours=1), False)]
    traffic = WardMonth(MONTH, sends, [], [], start + timedelta(days=1))
    async with played(traffic, settings) as (bridge, receivers):
        # When the content check runs (twice, as every minute in every process)
        flagged = await bridge.content_checks.check()
        assert await bridge.content_checks.check() == []
        await deliver_all(bridge)

        # Then both notices were delivered to Treserva as usual
        assert sorted(item.origin_message_id or "" for item in receivers.at("treserva")) == [
            "CC0001",
            "CC0002",
        ]
        # And only the incomplete one is a deviation of its ward, naming what is missing
        assert len(flagged) == 1
        [entry] = await bridge.reported_deviations.entries()
        assert (entry.origin, entry.category, entry.unit_hsa_id) == (
            "automatic",
            "incomplete-information",
            MEDICINE,
        )
        for field in (
            "housing-situation",
            "social-situation",
            "care-needs-assessment",
            "estimated-discharge",
        ):
            assert field in entry.summary
        assert "reason-for-admission" not in entry.summary
        # And it went to the ward's inbox
        [alert] = receivers.at("avd5-avvikelser")
        assert alert.event_code == "deviation"
