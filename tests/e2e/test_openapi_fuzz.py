"""Issue 12: schemathesis against the bridge's own ``/openapi.json`` finds no server error.

A real bridge (embedded mode, ephemeral ports) runs in a thread with its own event loop; an
admin is signed in so the ops API is exercised past its guard (the session cookie and CSRF
token go with every call). The budget is bounded (``MAX_EXAMPLES`` per operation) so this runs
in the normal suite in well under two minutes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from bridge.config import Settings
from bridge.entrypoints.runner import running_bridge
from bridge.service.operations.users import Role, Users

MAX_EXAMPLES = 12
PASSWORD = "a-long-fuzzing-password"


class LiveBridge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LiveBridge:
        self._thread.start()
        if not self._ready.wait(60) or self._failure is not None:
            raise RuntimeError(f"bridge did not start: {self._failure!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the test thread
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_bridge(self.settings) as running:
            await Users(running.bridge.db, running.bridge.clock).add(
                "fuzz", PASSWORD, Role.ADMIN, actor="test"
            )
            self.base_url = running.base_url
            self._ready.set()
            await self._stop.wait()


@pytest.fixture(scope="module")
def live_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        database_url=f"sqlite:///{directory / 'bridge.db'}",
        http_port=0,
        mllp_port=0,
        treserva_url="http://127.0.0.1:9/fhir",  # discard port: deliveries fail, never 5xx
        amqp_inbound=False,
    )
    with LiveBridge(settings) as bridge:
        yield bridge


@pytest.fixture(scope="module")
def signed_in(live_bridge: LiveBridge) -> dict[str, str]:
    response = httpx.post(
        f"{live_bridge.base_url}/ops/api/session",
        json={"username": "fuzz", "password": PASSWORD},
    )
    response.raise_for_status()
    cookie = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": response.json()["csrf_token"]}


def test_no_input_makes_a_server_error(live_bridge: LiveBridge, signed_in: dict[str, str]) -> None:
    """Every operation in the schema, ``MAX_EXAMPLES`` generated requests each (the schemathesis
    pytest plugin does not run under this pytest, so the operations are driven here)."""
    schema = schemathesis.openapi.from_url(f"{live_bridge.base_url}/openapi.json")
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/ops/api/session":
            continue  # fuzzed sign-ins would only feed the sign-in rate limit
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(headers=signed_in, timeout=20)
            key = f"{case.method} {case.operation.path}"
            statuses.setdefault(key, set()).add(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query or ''} -> "
                    f"{response.status_code}: {response.text[:200]}"
                )

        check()
    assert operations >= 10
    # Signed in for real: the guarded ops API answered, not only 401s
    assert 200 in statuses["GET /ops/api/overview"], statuses
    print(sorted(statuses.items()))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "path",
    [
        "/ops/api/dead-letters?offset=9223372036854775808",
        "/ops/api/dead-letters?offset=9223372036854775807",
        "/ops/api/messages?from=2025-03-01T08:00:00",
        "/ops/api/messages?from=0001-01-01T00:00:00%2B01:00",
        "/ops/api/messages?to=9999-12-31T23:59:59-01:00",
        "/ops/api/indicators?month=0001-01",
        "/ops/api/indicators?month=9999-12",
        "/ops/api/indicators/measure-report?month=0001-01",
    ],
)
def test_known_500_inputs_are_4xx_with_a_message(
    live_bridge: LiveBridge, signed_in: dict[str, str], path: str
) -> None:
    response = httpx.get(f"{live_bridge.base_url}{path}", headers=signed_in, timeout=20)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.text


def test_a_blank_discard_reason_is_a_4xx(
    live_bridge: LiveBridge, signed_in: dict[str, str]
) -> None:
    """Found by the fuzzing above: the service refused a reason of blanks with a ValueError."""
    response = httpx.post(
        f"{live_bridge.base_url}/ops/api/dead-letters/x/discard",
        json={"reason": "   "},
        headers=signed_in,
        timeout=20,
    )
    assert response.status_code == 422, response.text
