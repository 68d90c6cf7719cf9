"""Issue 12: content errors are permanent at the source, never "database unavailable"."""

from __future__ import annotations

import httpx
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from test_http_entrypoints import fhir_admission

from bridge.domain.hl7.ack import parse_ack
from bridge.entrypoints.replies import UNAVAILABLE_TEXT


async def post_hl7(stack: Stack, text: str) -> str:
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/hl7v2", content=text.encode(), headers={"Content-Type": "application/hl7-v2"}
        )
    assert response.status_code == 200
    return response.text


async def test_a_ward_name_longer_than_its_column_is_rejected_naming_pv1_3(stack: Stack) -> None:
    text = admission(control_id(), synthetic_personnummer())
    text = text.replace("Medicinavdelning 3&", "W" * 250 + "&")
    answer = await post_hl7(stack, text)
    ack = parse_ack(answer)
    assert ack.code in ("AE", "AR")
    assert "PV1^1^3" in answer or "PV1-3" in answer
    assert UNAVAILABLE_TEXT not in answer


async def test_a_value_only_the_database_refuses_is_rejected_not_unavailable(
    stack: Stack,
) -> None:
    """MSH-4 of 420 characters makes a dedupe key over its 400-character column: PostgreSQL
    raises a DataError (SQLite stores it). Either way the answer is final, never 'resend'."""
    text = admission(control_id(), synthetic_personnummer())
    text = text.replace("|TakeCare|SE2120000803|", "|TakeCare|" + "F" * 420 + "|", 1)
    answer = await post_hl7(stack, text)
    ack = parse_ack(answer)
    assert UNAVAILABLE_TEXT not in answer
    if stack.settings.database_url.startswith("sqlite"):
        assert ack.code == "AA"
    else:
        assert ack.code in ("AE", "AR")
        assert "database refuses" in answer


async def test_a_too_long_fhir_ward_name_gets_an_operation_outcome(stack: Stack) -> None:
    bundle = fhir_admission(synthetic_personnummer())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            resource["serviceProvider"]["display"] = "W" * 250
            resource["location"][0]["location"]["display"] = "W" * 250
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/fhir/$process-message",
            json=bundle,
            headers={"Content-Type": "application/fhir+json"},
        )
    assert response.status_code in (400, 422)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "ward name" in outcome["issue"][0]["details"]["text"]
    assert outcome["issue"][0]["expression"] == ["Encounter.serviceProvider"]


async def test_years_python_cannot_move_to_utc_are_rejected_naming_the_field(
    stack: Stack,
) -> None:
    text = admission(control_id(), synthetic_personnummer())
    text = text.replace("20240301090500+0100", "00010101000000+0100")
    answer = await post_hl7(stack, text)
    assert parse_ack(answer).code in ("AE", "AR")
    assert "PV1-44" in answer or "PV1^1^44" in answer
    bundle = fhir_admission(synthetic_personnummer())
    bundle["timestamp"] = "9999-12-31T23:59:59-01:00"
    async with httpx.AsyncClient(base_url=stack.bridge.base_url) as client:
        response = await client.post(
            "/fhir/$process-message",
            json=bundle,
            headers={"Content-Type": "application/fhir+json"},
        )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.timestamp"]
