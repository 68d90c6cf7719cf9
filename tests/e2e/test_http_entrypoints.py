"""Issue 2: the HTTP entrypoints (HL7 v2 over HTTP, FHIR messaging, health) end to end."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from test_admission_flow import inbox_for

from bridge.domain.fhir.outcome import parse_response
from bridge.domain.hl7.ack import parse_ack
from bridge.domain.hl7.er7 import BATCH_SEGMENTS, segment_lines

BUNDLE = Path(__file__).parent.parent / "fixtures" / "fhir" / "admission-bundle.json"


def fhir_admission(personnummer: str) -> dict[str, Any]:
    """The golden FHIR admission with a new message id and patient."""
    bundle: dict[str, Any] = json.loads(BUNDLE.read_text(encoding="utf-8"))
    bundle = copy.deepcopy(bundle)
    bundle["identifier"]["value"] = f"urn:uuid:{uuid.uuid4()}"
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["source"]["name"] = "takecare-fhir"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["identifier"][0]["value"] = personnummer
    return bundle


async def test_hl7_over_http_answers_with_the_ack(stack: Stack) -> None:
    pnr = synthetic_personnummer()
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/hl7v2",
            content=admission(control_id(), pnr).encode(),
            headers={"Content-Type": "application/hl7-v2"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/hl7-v2")
    assert parse_ack(response.text).code == "AA"
    await wait_until(lambda: inbox_for(stack, pnr), within=5, what="delivered")


async def test_fhir_message_is_accepted_and_forwarded(stack: Stack) -> None:
    pnr = synthetic_personnummer()
    bundle = fhir_admission(pnr)
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/fhir/$process-message",
            content=json.dumps(bundle),
            headers={"Content-Type": "application/fhir+json"},
        )
        again = await client.post(
            "/fhir/$process-message",
            content=json.dumps(bundle),
            headers={"Content-Type": "application/fhir+json"},
        )
    assert response.status_code == 200, response.text
    assert parse_response(response.json())[0] == "ok"
    assert again.status_code == 200
    await wait_until(lambda: inbox_for(stack, pnr), within=5, what="delivered")
    assert len(await inbox_for(stack, pnr)) == 1


async def test_bad_fhir_bundle_gets_an_operation_outcome_naming_the_element(stack: Stack) -> None:
    bundle = fhir_admission("191212121213")  # wrong check digit
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        bad_id = await client.post(
            "/fhir/$process-message",
            content=json.dumps(bundle),
            headers={"Content-Type": "application/fhir+json"},
        )
        not_json = await client.post(
            "/fhir/$process-message",
            content=b"{not json",
            headers={"Content-Type": "application/fhir+json"},
        )
    for response in (bad_id, not_json):
        assert response.status_code == 400
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] == "error"
    assert "identifier" in json.dumps(bad_id.json()["issue"][0].get("expression", []))
    assert "191212121213" not in bad_id.text


async def test_metadata_health_and_readiness(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        metadata = (await client.get("/fhir/metadata")).json()
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert metadata["resourceType"] == "CapabilityStatement"
    assert metadata["fhirVersion"] == "4.0.1"
    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "broker": True}


BATCH = Path(__file__).parent.parent / "fixtures" / "hl7" / "batch_adt.hl7"


async def test_hl7_batch_file_over_http_gets_one_ack_per_message_and_keeps_order(
    stack: Stack,
) -> None:
    # Given an FHS/BHS batch file holding one patient's A01, A08, A16 and A03
    body = BATCH.read_bytes()

    # When it is posted to /hl7v2
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/hl7v2", content=body, headers={"Content-Type": "application/hl7-v2"}
        )

    # Then every message gets its own AA, echoing its MSH-10 in order (inside the batch of ACKs
    # that answers a batch: docs/hl7-conformance.md)
    assert response.status_code == 200
    inner = [line for line in segment_lines(response.text) if line[:3] not in BATCH_SEGMENTS]
    acks = "\r".join(inner).split("MSH|")[1:]
    results = [parse_ack("MSH|" + ack) for ack in acks]
    assert [r.code for r in results] == ["AA"] * 4
    assert [r.control_id for r in results] == [
        "TC20240601-000200",
        "TC20240603-000201",
        "TC20240609-000202",
        "TC20240610-000203",
    ]
    # And the patient's notices reach Treserva in the order they were sent
    await wait_until(
        lambda: _count(stack, "191212121212", 4), within=10, what="four notices delivered"
    )
    items = list(reversed(await inbox_for(stack, "191212121212")))  # inbox is newest first
    assert [item["event_code"] for item in items] == [
        "admission",
        "estimated-discharge-changed",
        "discharge-ready",
        "discharge",
    ]


async def _count(stack: Stack, pnr: str, expected: int) -> bool:
    return len(await inbox_for(stack, pnr)) >= expected
