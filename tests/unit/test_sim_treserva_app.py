"""The Treserva simulator app in-process (httpx ASGITransport): endpoints, faults, worklist."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from treserva_sim import Faults, TreservaSettings, create_app
from treserva_sim.samples import admission_bundle

PNR = "194209179938"
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(TreservaSettings(seed=1))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://treserva") as client:
        yield client


async def post(client: httpx.AsyncClient, bundle: object, **headers: str) -> httpx.Response:
    return await client.post(
        "/fhir/$process-message", content=json.dumps(bundle), headers=FHIR | headers
    )


async def test_a_notice_is_filed_and_answered_with_a_response_message(
    client: httpx.AsyncClient,
) -> None:
    bundle = admission_bundle(PNR, idempotency_key="k1")
    response = await post(client, bundle)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    header = response.json()["entry"][0]["resource"]
    assert header["response"]["identifier"] == bundle["entry"][0]["resource"]["id"]
    assert header["source"]["endpoint"] == "http://treserva/fhir"
    [item] = (await client.get("/api/inbox")).json()
    assert item["idempotency_key"] == "urn:uuid:k1"
    assert (item["event_code"], item["patient_identifier"]) == ("admission", PNR)
    assert item["bundle"] == bundle
    assert item["received_at"].endswith("+00:00")


async def test_the_idempotency_key_header_dedupes(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await post(client, admission_bundle(PNR), **{"Idempotency-Key": "same"})
        assert response.status_code == 200
    inbox = (await client.get("/api/inbox")).json()
    assert [item["idempotency_key"] for item in inbox] == ["same"]
    stats = (await client.get("/api/stats")).json()
    assert (stats["received"], stats["filed"], stats["duplicates"]) == (2, 1, 1)


async def test_a_malformed_bundle_gets_400_with_an_operation_outcome(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, {"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.type"]
    not_json = await client.post("/fhir/$process-message", content=b"{", headers=FHIR)
    assert not_json.status_code == 400
    assert (await client.get("/api/stats")).json()["rejected"] == 2


async def test_a_body_that_is_not_fhir_json_gets_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/$process-message", content=b"MSH|", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_faults_can_be_set_read_and_validated(client: httpx.AsyncClient) -> None:
    changed = await client.post("/api/faults", json={"error_rate": 1.0, "latency_ms": 5})
    assert changed.json() == Faults(error_rate=1.0, latency_ms=5).model_dump()
    assert (await client.get("/api/faults")).json()["error_rate"] == 1.0
    assert (await client.post("/api/faults", json={"error_rate": 2})).status_code == 422
    assert (await client.post("/api/faults", json={"nonsense": True})).status_code == 422


async def test_error_rate_one_answers_500_and_files_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/api/faults", json={"error_rate": 1.0})
    response = await post(client, admission_bundle(PNR))
    assert response.status_code == 500
    assert (await client.get("/api/inbox")).json() == []
    assert (await client.get("/api/stats")).json()["failed"] == 1


async def test_outage_answers_503_on_fhir_and_healthz_but_not_on_the_api(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    await client.post("/api/faults", json={"outage": True})
    assert (await post(client, admission_bundle(PNR))).status_code == 503
    assert (await client.get("/healthz")).status_code == 503
    assert (await client.get("/api/stats")).status_code == 200
    await client.post("/api/faults", json={"outage": False})
    assert (await post(client, admission_bundle(PNR))).status_code == 200


async def test_silent_drop_answers_ok_and_files_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/api/faults", json={"silent_drop": True})
    response = await post(client, admission_bundle(PNR))
    assert response.status_code == 200
    assert response.json()["entry"][0]["resource"]["response"]["code"] == "ok"
    assert (await client.get("/api/inbox")).json() == []
    assert (await client.get("/api/stats")).json()["dropped"] == 1


async def test_timeout_hangs_then_answers_504(client: httpx.AsyncClient) -> None:
    await client.post("/api/faults", json={"timeout": True, "hang_seconds": 0.2})
    response = await post(client, admission_bundle(PNR))
    assert response.status_code == 504
    assert (await client.get("/api/inbox")).json() == []


async def test_faults_from_settings_apply_from_the_start() -> None:
    app = create_app(TreservaSettings(faults=Faults(silent_drop=True)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await post(client, admission_bundle(PNR))).status_code == 200
        assert (await client.get("/api/stats")).json()["dropped"] == 1


async def test_the_worklist_page_shows_newest_first_escaped_and_masked(
    client: httpx.AsyncClient,
) -> None:
    await post(client, admission_bundle(PNR, estimated_discharge="2030-01-10"))
    hostile = admission_bundle("194103029984", protection="sekretessmarkering")
    hostile["entry"][1]["resource"]["name"] = [{"family": "<script>x</script>", "given": ["A"]}]
    await post(client, hostile)
    page = (await client.get("/")).text
    assert "<script>x" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.index("19410302-****") < page.index("19420917-****")
    assert PNR not in page
    assert "2030-01-10" in page
    assert "Medicinavdelning 1" in page
    assert "Protected identity" in page


async def test_clearing_the_inbox_resets_the_stats(client: httpx.AsyncClient) -> None:
    await post(client, admission_bundle(PNR))
    assert (await client.delete("/api/inbox")).status_code == 204
    assert (await client.get("/api/inbox")).json() == []
    assert (await client.get("/api/stats")).json()["received"] == 0


async def test_log_lines_never_carry_a_whole_personnummer(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="treserva_sim")
    await post(client, admission_bundle(PNR, idempotency_key=PNR))
    await post(client, admission_bundle(PNR, idempotency_key=PNR))
    assert "19420917-****" in caplog.text
    assert PNR not in caplog.text


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("2030-01-10", "2030-01-10"),
        ("2030-01-10T00:00:00+01:00", "2030-01-10"),
        ("2030-01-09T23:00:00Z", "2030-01-10"),
    ],
)
async def test_the_worklist_shows_the_estimated_discharge_as_a_stockholm_date(
    client: httpx.AsyncClient, written: str, shown: str
) -> None:
    await post(client, admission_bundle(PNR, estimated_discharge=written))
    assert f"<td>{shown}</td>" in (await client.get("/")).text
