"""Issue 11: the HTTP entrypoints as real senders use them. An HL7 v2 batch is answered by a
BHS/BTS batch of ACKs; ``$process-message`` refuses FHIR XML (415), an answer format it cannot
give (406) and asynchronous processing (400), each with an OperationOutcome saying why."""

from __future__ import annotations

import json
from pathlib import Path

import hl7
import hl7apy.parser
import httpx
import pytest
from conftest import Stack
from messages import synthetic_personnummer
from test_http_entrypoints import fhir_admission

from bridge.domain.hl7.er7 import segment_lines

BATCH = Path(__file__).parent.parent / "fixtures" / "hl7" / "batch_adt.hl7"


async def test_an_hl7_batch_is_answered_by_a_batch_of_acks(stack: Stack) -> None:
    # Given an FHS/BHS batch file of four messages, its batch control id BHS-11 = BATCH-42
    original = segment_lines(BATCH.read_bytes().decode())
    request_bhs = next(line for line in original if line.startswith("BHS")) + "||||BATCH-42"
    lines_sent = [request_bhs if line.startswith("BHS") else line for line in original]
    body = "\r".join(lines_sent).encode()

    # When it is posted to /hl7v2
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/hl7v2", content=body, headers={"Content-Type": "application/hl7-v2"}
        )

    # Then the answer is FHS, BHS, four ACKs, BTS-1 = 4, FTS-1 = 1
    assert response.status_code == 200
    lines = segment_lines(response.text)
    names = [line[:3] for line in lines]
    assert names[:2] == ["FHS", "BHS"] and names[-2:] == ["BTS", "FTS"]
    assert names.count("MSA") == 4
    batch = hl7.parse_batch("\r".join(lines[1:-1]))
    assert len(batch) == 4 and str(batch.trailer[1]) == "4"
    assert [str(message.segment("MSA")[1]) for message in batch] == ["AA"] * 4
    # And BHS names the bridge to the request's sender, referring to the request's batch id
    requested = hl7.parse_batch(request_bhs + "\rBTS|0").header
    assert str(batch.header[3]) == "BRIDGE"
    assert str(batch.header[5]) == str(requested[3])
    assert str(requested[11]) == "BATCH-42"
    assert str(batch.header[12]) == "BATCH-42"
    # And hl7apy reads the batch segments as HL7 v2.5
    for line in (lines[0], lines[1], lines[-2], lines[-1]):
        assert hl7apy.parser.parse_segment(line, version="2.5").name == line[:3]


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({"Content-Type": "application/fhir+xml"}, {}, 415),
        ({"Content-Type": "text/plain"}, {}, 415),
        ({"Content-Type": "application/fhir+json", "Accept": "application/fhir+xml"}, {}, 406),
        ({"Content-Type": "application/fhir+json"}, {"async": "true"}, 400),
    ],
    ids=["xml", "text", "accept-xml", "async"],
)
async def test_process_message_refuses_what_it_cannot_do_with_an_outcome(
    stack: Stack, headers: dict[str, str], params: dict[str, str], status: int
) -> None:
    # Given a valid FHIR admission
    body = json.dumps(fhir_admission(synthetic_personnummer()))
    # When it is posted in a way the bridge does not serve
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/fhir/$process-message", content=body, headers=headers, params=params
        )
    # Then the status says which, with an OperationOutcome a person can act on, and nothing
    # was accepted
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-supported"
    assert outcome["issue"][0]["details"]["text"]


async def test_process_message_accepts_json_with_parameters_and_wildcards(stack: Stack) -> None:
    body = json.dumps(fhir_admission(synthetic_personnummer()))
    headers = {
        "Content-Type": "application/fhir+json; fhirVersion=4.0",
        "Accept": "application/fhir+json;q=0.9, */*;q=0.1",
    }
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/fhir/$process-message", content=body, headers=headers, params={"async": "false"}
        )
    assert response.status_code == 200, response.text
