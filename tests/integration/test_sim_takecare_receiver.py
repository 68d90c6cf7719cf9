"""The TakeCare simulator's receiving side over real sockets: MLLP, HL7 over HTTP, FHIR, inbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.domain.identifiers import mask
from takecare_sim import (
    MllpClient,
    RunningTakeCare,
    build_admission,
    generate_admissions,
    receiving,
)
from takecare_sim.ack import parse_ack
from treserva_sim.samples import admission_bundle

ADMISSIONS = generate_admissions(3, seed=12)


@pytest.fixture
async def takecare() -> AsyncIterator[RunningTakeCare]:
    async with receiving() as running:
        yield running


@pytest.fixture
async def http(takecare: RunningTakeCare) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=takecare.base_url, timeout=5) as client:
        yield client


async def test_an_hl7_message_over_mllp_is_acknowledged_and_filed(
    takecare: RunningTakeCare, http: httpx.AsyncClient
) -> None:
    # Given the receiver listening on MLLP
    async with MllpClient(takecare.mllp_host, takecare.mllp_port) as client:
        # When an A01 arrives, twice (a retry)
        first = parse_ack(await client.send(build_admission(ADMISSIONS[0], "B0001")))
        again = parse_ack(await client.send(build_admission(ADMISSIONS[0], "B0001")))
    # Then both are acknowledged AA naming the message, and it is filed once
    assert (first.code, first.control_id) == ("AA", "B0001")
    assert (again.code, again.control_id) == ("AA", "B0001")
    inbox = (await http.get("/api/inbox")).json()
    assert [(i["event_code"], i["format"], i["channel"]) for i in inbox] == [
        ("ADT^A01", "hl7v2", "mllp")
    ]
    assert inbox[0]["idempotency_key"] == "VISBY_LAS|B0001"
    assert inbox[0]["patient_identifier"] == ADMISSIONS[0].patient.identifier
    assert takecare.inbox.duplicates == 1


async def test_a_message_without_a_header_is_refused(takecare: RunningTakeCare) -> None:
    async with MllpClient(takecare.mllp_host, takecare.mllp_port) as client:
        answer = parse_ack(await client.send("PID|1||194209179938"))
    assert answer.code == "AR"
    assert takecare.inbox.count() == 0


async def test_hl7_over_http_is_answered_with_the_ack(http: httpx.AsyncClient) -> None:
    response = await http.post("/hl7v2", content=build_admission(ADMISSIONS[1], "B0002"))
    assert response.headers["content-type"].startswith("application/hl7-v2")
    assert parse_ack(response.text).code == "AA"
    assert (await http.get("/api/inbox")).json()[0]["channel"] == "http"


async def test_a_fhir_message_is_filed_and_answered_with_a_response_bundle(
    http: httpx.AsyncClient,
) -> None:
    # Given a FHIR message Bundle
    bundle = admission_bundle(personnummer=ADMISSIONS[2].patient.identifier)
    header_id = bundle["entry"][0]["resource"]["id"]
    # When it is posted, twice with the same Idempotency-Key
    headers = {"content-type": "application/fhir+json", "idempotency-key": "k-1"}
    answers = [
        await http.post("/fhir/$process-message", content=json.dumps(bundle), headers=headers)
        for _ in range(2)
    ]
    # Then both are answered ok for that MessageHeader, and it is filed once
    for answer in answers:
        assert answer.status_code == 200
        response = answer.json()["entry"][0]["resource"]["response"]
        assert response == {"identifier": header_id, "code": "ok"}
    inbox = (await http.get("/api/inbox")).json()
    assert [(i["idempotency_key"], i["event_code"], i["format"]) for i in inbox] == [
        ("k-1", "admission", "fhir")
    ]


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (b"not json", "Bundle"),
        (b'{"resourceType": "Bundle", "type": "batch"}', "Bundle.type"),
        (b'{"resourceType": "Bundle", "type": "message", "entry": []}', "Bundle.entry[0]"),
    ],
)
async def test_an_unreadable_fhir_message_is_refused_naming_where(
    http: httpx.AsyncClient, body: bytes, location: str
) -> None:
    answer = await http.post("/fhir/$process-message", content=body)
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["expression"] == [location]


async def test_the_inbox_is_newest_first_limited_and_clearable(
    http: httpx.AsyncClient,
) -> None:
    for number, admission in enumerate(ADMISSIONS):
        await http.post("/hl7v2", content=build_admission(admission, f"B{number}"))
    inbox = (await http.get("/api/inbox", params={"limit": 2})).json()
    assert [item["idempotency_key"] for item in inbox] == ["VISBY_LAS|B2", "VISBY_LAS|B1"]
    assert (await http.delete("/api/inbox")).status_code == 204
    assert (await http.get("/api/inbox")).json() == []


async def test_the_page_shows_what_arrived_with_personnummer_masked(
    http: httpx.AsyncClient,
) -> None:
    await http.post("/hl7v2", content=build_admission(ADMISSIONS[0], "B0009"))
    page = (await http.get("/")).text
    identifier = ADMISSIONS[0].patient.identifier
    assert "Admission notice (inskrivningsmeddelande)" in page
    assert mask(identifier) in page
    assert identifier not in page
