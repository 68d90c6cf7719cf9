"""The Treserva simulator over real HTTP (uvicorn on a free port), as the bridge will meet it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from treserva_sim import Faults, RunningTreserva, TreservaSettings, running
from treserva_sim.samples import admission_bundle

FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
async def treserva() -> AsyncIterator[RunningTreserva]:
    async with running(TreservaSettings(seed=1)) as simulator:
        yield simulator


@pytest.fixture
async def http(treserva: RunningTreserva) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=treserva.base_url, timeout=5) as client:
        yield client


async def post(http: httpx.AsyncClient, personnummer: str, key: str) -> httpx.Response:
    bundle = admission_bundle(personnummer)
    return await http.post(
        "/fhir/$process-message", json=bundle, headers=FHIR | {"Idempotency-Key": key}
    )


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Poll ``condition()`` until true or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


async def test_same_key_twice_gives_one_inbox_item(http: httpx.AsyncClient) -> None:
    first = await post(http, "194209179938", "key-1")
    second = await post(http, "194209179938", "key-1")
    assert (first.status_code, second.status_code) == (200, 200)
    inbox = (await http.get("/api/inbox")).json()
    assert [item["idempotency_key"] for item in inbox] == ["key-1"]


async def test_inbox_is_newest_first_and_limit_cuts_it(http: httpx.AsyncClient) -> None:
    for n in range(4):
        assert (await post(http, "194209179938", f"key-{n}")).status_code == 200
    everything = (await http.get("/api/inbox")).json()
    assert [item["idempotency_key"] for item in everything] == [f"key-{n}" for n in (3, 2, 1, 0)]
    limited = (await http.get("/api/inbox", params={"limit": 2})).json()
    assert [item["idempotency_key"] for item in limited] == ["key-3", "key-2"]
    assert (await http.get("/api/inbox", params={"limit": -1})).status_code == 422


async def test_silent_drop_answers_200_and_files_nothing(http: httpx.AsyncClient) -> None:
    await http.post("/api/faults", json={"silent_drop": True})
    assert (await post(http, "194209179938", "dropped")).status_code == 200
    assert (await http.get("/api/inbox")).json() == []
    assert (await http.get("/api/stats")).json()["dropped"] == 1


async def test_error_rate_one_gives_500(http: httpx.AsyncClient) -> None:
    await http.post("/api/faults", json={"error_rate": 1})
    assert (await post(http, "194209179938", "failing")).status_code == 500
    await http.post("/api/faults", json={"error_rate": 0})
    assert (await post(http, "194209179938", "failing")).status_code == 200
    stats = (await http.get("/api/stats")).json()
    assert (stats["received"], stats["failed"], stats["filed"]) == (2, 1, 1)


async def test_half_error_rate_fails_about_half(http: httpx.AsyncClient) -> None:
    await http.post("/api/faults", json={"error_rate": 0.5})
    codes = [(await post(http, "194209179938", f"k{n}")).status_code for n in range(60)]
    assert 15 < codes.count(500) < 45
    assert set(codes) == {200, 500}


async def test_latency_delays_the_answer(http: httpx.AsyncClient) -> None:
    await http.post("/api/faults", json={"latency_ms": 300})
    started = asyncio.get_running_loop().time()
    assert (await post(http, "194209179938", "slow")).status_code == 200
    assert asyncio.get_running_loop().time() - started >= 0.3


async def test_timeout_outlasts_the_client_and_files_nothing(
    treserva: RunningTreserva, http: httpx.AsyncClient
) -> None:
    await http.post("/api/faults", json={"timeout": True, "hang_seconds": 30})
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            "/fhir/$process-message", json=admission_bundle(), headers=FHIR, timeout=0.5
        )

    async def gave_up() -> bool:
        return treserva.reception.stats.failed == 1

    await eventually(gave_up)
    assert treserva.reception.inbox.count() == 0


async def test_a_file_backed_inbox_survives_a_restart(tmp_path: Path) -> None:
    settings = TreservaSettings(database_path=tmp_path / "treserva.sqlite")
    for attempt in range(2):
        async with running(settings) as simulator, httpx.AsyncClient() as http:
            response = await http.post(
                simulator.process_message_url,
                json=admission_bundle(),
                headers=FHIR | {"Idempotency-Key": "persistent"},
            )
            assert response.status_code == 200
            assert simulator.reception.stats.filed == (1 if attempt == 0 else 0)
            inbox = (await http.get(f"{simulator.base_url}/api/inbox")).json()
            assert [item["idempotency_key"] for item in inbox] == ["persistent"]


async def test_outage_from_settings_answers_503(tmp_path: Path) -> None:
    settings = TreservaSettings(faults=Faults(outage=True))
    async with (
        running(settings) as simulator,
        httpx.AsyncClient(base_url=simulator.base_url) as http,
    ):
        assert (await http.get("/healthz")).status_code == 503
        assert (await post(http, "194209179938", "k")).status_code == 503


async def test_the_worklist_page_is_served(http: httpx.AsyncClient) -> None:
    await post(http, "194209179938", "page")
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "19420917-****" in page.text


async def test_a_busy_port_raises_instead_of_exiting(treserva: RunningTreserva) -> None:
    port = int(treserva.base_url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="in use"):
        async with running(port=port):
            pass
