"""What the contract tests start: a whole bridge (both modes), the simulators, the CLI.

Context managers rather than fixtures in a conftest, so no second ``conftest`` module competes
with tests/e2e's on the import path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from services import delete_rabbit_entities, require_postgres, require_rabbitmq

from bridge.config import Settings
from bridge.contracts.loader import ContractSet, load_contracts
from bridge.entrypoints.runner import RunningBridge, running_bridge
from support.cli_process import TEST_SESSION_SECRET
from treserva_sim.server import RunningTreserva, running

# A bridge on PostgreSQL needs a session signing key (docs/security.md).
os.environ.setdefault("BRIDGE_SESSION_SECRET", TEST_SESSION_SECRET)

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"


def contract_set() -> ContractSet:
    return load_contracts(CONTRACTS)


@dataclass(frozen=True)
class LiveBridge:
    bridge: RunningBridge
    treserva: RunningTreserva
    settings: Settings

    @property
    def fhir_url(self) -> str:
        return f"{self.bridge.base_url}/fhir"

    @property
    def mllp_url(self) -> str:
        return f"mllp://127.0.0.1:{self.bridge.mllp_port}"


def _settings(treserva: RunningTreserva, **overrides: object) -> Settings:
    return Settings(
        treserva_url=f"{treserva.base_url}/fhir",
        http_port=0,
        mllp_port=0,
        relay_interval_seconds=0.05,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.5,
        **overrides,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def live_bridge(tmp_path: Path) -> AsyncIterator[LiveBridge]:
    """Embedded mode: SQLite file and the queue inside it, with a Treserva simulator."""
    async with running(port=0) as treserva:
        settings = _settings(treserva, database_url=f"sqlite:///{tmp_path / 'bridge.db'}")
        async with running_bridge(settings) as bridge:
            yield LiveBridge(bridge, treserva, settings)


@contextlib.asynccontextmanager
async def production_bridge() -> AsyncIterator[LiveBridge]:
    """Production mode: a fresh PostgreSQL database and RabbitMQ (AMQP inbound open)."""
    amqp = require_rabbitmq()
    prefix = f"contract-{uuid.uuid4().hex[:10]}"
    try:
        with require_postgres() as database_url:
            async with running(port=0) as treserva:
                settings = _settings(
                    treserva,
                    database_url=database_url,
                    broker_url=amqp,
                    broker_prefix=prefix,
                    inbound_exchange=f"{prefix}.inbound",
                    inbound_queue=f"{prefix}.inbound",
                )
                async with running_bridge(settings) as bridge:
                    yield LiveBridge(bridge, treserva, settings)
    finally:
        delete_rabbit_entities(prefix)


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


async def bridge_cli(*arguments: str, within: float = 90) -> CliRun:
    """Run ``bridge …`` as a developer would, in a separate process, without blocking the loop
    (the providers it talks to run in this test's event loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.entrypoints.cli",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "BRIDGE_CONTRACTS_DIR": str(CONTRACTS), "PACT_DO_NOT_TRACK": "true"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=within)
    assert process.returncode is not None
    return CliRun(process.returncode, out.decode(), err.decode())


@contextlib.asynccontextmanager
async def serve_app(app: object) -> AsyncIterator[str]:
    """Serve an ASGI app on a free port in this event loop; yields its base URL."""
    import uvicorn

    from bridge.entrypoints.runner import listen_socket

    sock = listen_socket("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
