"""The Treserva simulator talking back over real HTTP: receipts and home-care enrolments.

The "bridge" here is the TakeCare simulator's receiving endpoint, which files any FHIR message
and answers ok: a recorder of what Treserva sends. (The whole flow through a real bridge is in
test_sim_episodes_flow.py.)
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from services import wait_until

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.model import EventCode
from takecare_sim import RunningTakeCare, receiving
from treserva_sim import TreservaSettings, running
from treserva_sim.bridge_link import BridgeLink
from treserva_sim.samples import admission_bundle
from treserva_sim.server import RunningTreserva
from treserva_sim.stats import Stats

PATIENT = "194209179938"
FHIR_HEADERS = {"content-type": "application/fhir+json"}


@pytest.fixture
async def recorder() -> AsyncIterator[RunningTakeCare]:
    async with receiving() as takecare:
        yield takecare


@pytest.fixture
async def treserva(recorder: RunningTakeCare) -> AsyncIterator[RunningTreserva]:
    async with running(TreservaSettings(bridge_url=recorder.fhir_base, seed=3)) as sim:
        yield sim


@pytest.fixture
async def http(treserva: RunningTreserva) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=treserva.base_url, timeout=5) as client:
        yield client


def sent(recorder: RunningTakeCare, code: str) -> list[dict[str, Any]]:
    """Bundles the recorder got with this event code, oldest first."""
    return [
        item.bundle
        for item in reversed(recorder.inbox.items())
        if item.event_code == code and item.bundle is not None
    ]


def header(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


async def post_notice(http: httpx.AsyncClient, bundle: dict[str, Any], key: str) -> None:
    headers = {**FHIR_HEADERS, "idempotency-key": key}
    response = await http.post(
        "/fhir/$process-message", content=json.dumps(bundle), headers=headers
    )
    assert response.status_code == 200


async def test_each_filed_notice_is_confirmed_with_a_receipt(
    http: httpx.AsyncClient, recorder: RunningTakeCare, treserva: RunningTreserva
) -> None:
    # Given two notices
    notices = [admission_bundle(PATIENT), admission_bundle(PATIENT, event_code="discharge")]
    # When Treserva files them
    for number, notice in enumerate(notices):
        await post_notice(http, notice, f"key-{number}")
    # Then a receipt for each reaches the bridge, naming the notice's MessageHeader.id
    await wait_until(lambda: len(sent(recorder, "receipt")) == 2, what="two receipts")
    receipts = [header(bundle) for bundle in sent(recorder, "receipt")]
    assert [r["response"] for r in receipts] == [
        {"identifier": header(notice)["id"], "code": "ok"} for notice in notices
    ]
    assert {r["source"]["name"] for r in receipts} == {"GOTLAND-SOF"}
    assert treserva.reception.stats.receipts_sent == 2


async def test_receipts_are_messages_the_bridge_reads(
    http: httpx.AsyncClient, recorder: RunningTakeCare
) -> None:
    notice = admission_bundle(PATIENT)
    await post_notice(http, notice, "key-1")
    await wait_until(lambda: bool(sent(recorder, "receipt")), what="a receipt")
    event = decode_message_bundle(json.dumps(sent(recorder, "receipt")[0]).encode())
    assert event.event is EventCode.RECEIPT
    assert event.receipt is not None
    assert (event.receipt.responds_to, event.receipt.code) == (header(notice)["id"], "ok")
    assert event.origin.sending_facility == "GOTLAND-SOF"


async def test_a_silently_dropped_notice_gets_no_receipt(
    http: httpx.AsyncClient, recorder: RunningTakeCare
) -> None:
    # Given Treserva silently dropping
    await http.post("/api/faults", json={"silent_drop": True})
    dropped = admission_bundle(PATIENT)
    await post_notice(http, dropped, "key-dropped")
    # When it stops dropping and files the next notice
    await http.post("/api/faults", json={"silent_drop": False})
    filed = admission_bundle(PATIENT)
    await post_notice(http, filed, "key-filed")
    # Then only the filed one is confirmed (receipts go out in filing order)
    await wait_until(lambda: bool(sent(recorder, "receipt")), what="a receipt")
    assert [header(b)["response"]["identifier"] for b in sent(recorder, "receipt")] == [
        header(filed)["id"]
    ]


async def test_a_repeated_notice_is_confirmed_again(
    http: httpx.AsyncClient, recorder: RunningTakeCare, treserva: RunningTreserva
) -> None:
    notice = admission_bundle(PATIENT)
    for _ in range(2):
        await post_notice(http, notice, "key-same")
    await wait_until(lambda: len(sent(recorder, "receipt")) == 2, what="two receipts")
    assert treserva.reception.stats.duplicates == 1


async def test_without_a_bridge_url_nothing_is_sent(recorder: RunningTakeCare) -> None:
    async with (
        running(TreservaSettings()) as sim,
        httpx.AsyncClient(base_url=sim.base_url, timeout=5) as client,
    ):
        await post_notice(client, admission_bundle(PATIENT), "key-1")
        refused = await client.post("/api/enrolments", json={})
    assert refused.status_code == 409
    assert sim.reception.stats.receipts_sent == 0
    assert recorder.inbox.count() == 0


async def test_an_enrolment_started_then_ended_on_demand(
    http: httpx.AsyncClient, recorder: RunningTakeCare
) -> None:
    # Given a patient Treserva was told about
    await post_notice(http, admission_bundle(PATIENT), "key-1")
    # When home care enrols the patient, then ends the enrolment
    started = await http.post("/api/enrolments", json={"status": "started"})
    ended = await http.post("/api/enrolments", json={"status": "ended"})
    # Then the bridge got both, for that patient, under one episode id
    assert started.status_code == ended.status_code == 200
    assert started.json()["patient_identifier"] == PATIENT
    assert started.json()["episode_id"] == ended.json()["episode_id"]
    events = [
        decode_message_bundle(json.dumps(bundle).encode())
        for code in ("homecare-enrolment-started", "homecare-enrolment-ended")
        for bundle in sent(recorder, code)
    ]
    assert [(e.event, e.home_care.status if e.home_care else None) for e in events] == [
        (EventCode.HOMECARE_ENROLMENT_STARTED, "active"),
        (EventCode.HOMECARE_ENROLMENT_ENDED, "finished"),
    ]
    assert {e.patient.primary_identifier.value for e in events if e.patient} == {PATIENT}
    listed = (await http.get("/api/enrolments")).json()
    assert [item["event_code"] for item in listed] == [
        "homecare-enrolment-ended",
        "homecare-enrolment-started",
    ]


async def test_ending_with_nothing_active_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/enrolments", json={"status": "ended"})
    assert response.status_code == 409


async def test_a_named_patient_and_unit_are_used(
    http: httpx.AsyncClient, recorder: RunningTakeCare
) -> None:
    request = {"personnummer": PATIENT, "unit_hsa_id": "SE2321000040-H002", "episode_id": "E-7"}
    answer = (await http.post("/api/enrolments", json=request)).json()
    assert (answer["patient_identifier"], answer["unit"], answer["episode_id"]) == (
        PATIENT,
        "SE2321000040-H002",
        "E-7",
    )


async def test_enrolments_on_a_schedule(recorder: RunningTakeCare) -> None:
    settings = TreservaSettings(bridge_url=recorder.fhir_base, enrolment_rate_per_min=1200, seed=1)
    async with running(settings):
        await wait_until(
            lambda: len(sent(recorder, "homecare-enrolment-started")) >= 2,
            what="two scheduled enrolments",
        )


async def test_a_receipt_the_bridge_never_takes_is_given_up_after_a_few_tries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    stats = Stats()
    link = BridgeLink(
        f"http://127.0.0.1:{closed}/fhir", "GOTLAND-SOF", "http://t/fhir", stats,
        attempts=2, backoff_s=0.01,
    )  # fmt: skip
    link.send_receipt("notice-1")
    await wait_until(lambda: stats.receipts_failed == 1, what="the receipt given up")
    await link.close()
    assert stats.receipts_sent == 0
