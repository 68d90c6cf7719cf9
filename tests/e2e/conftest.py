"""End-to-end fixtures: the Treserva simulator and a whole bridge, in both runtime modes.

``embedded``: SQLite file + the queue inside it (the no-settings default).
``production``: a fresh PostgreSQL database + RabbitMQ with a random queue prefix.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from services import delete_rabbit_entities, require_postgres, require_rabbitmq

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.entrypoints.runner import RunningBridge, running_bridge
from support.cli_process import TEST_SESSION_SECRET
from treserva_sim.server import RunningTreserva, running

# A bridge on PostgreSQL needs a session signing key; bridges started here (and subprocesses
# given os.environ) read this one.
os.environ.setdefault("BRIDGE_SESSION_SECRET", TEST_SESSION_SECRET)


@dataclass
class Stack:
    treserva: RunningTreserva
    bridge: RunningBridge
    settings: Settings


@pytest.fixture
async def treserva() -> AsyncIterator[RunningTreserva]:
    async with running(port=0) as sim:
        yield sim


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


@contextlib.contextmanager
def mode_settings(mode: str, tmp_path: Path, treserva: RunningTreserva) -> Iterator[Settings]:
    """Settings for one runtime mode, on fresh real services."""
    if mode == "embedded":
        yield _settings(treserva, database_url=f"sqlite:///{tmp_path / 'bridge.db'}")
        return
    amqp = require_rabbitmq()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    try:
        with require_postgres() as database_url:
            yield _settings(
                treserva,
                database_url=database_url,
                broker_url=amqp,
                broker_prefix=prefix,
                inbound_exchange=f"{prefix}.inbound",
                inbound_queue=f"{prefix}.inbound",
            )
    finally:
        delete_rabbit_entities(prefix)


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.postgres)])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, treserva: RunningTreserva
) -> Iterator[Settings]:
    with mode_settings(request.param, tmp_path, treserva) as chosen:
        yield chosen


@pytest.fixture
def production_settings(tmp_path: Path, treserva: RunningTreserva) -> Iterator[Settings]:
    with mode_settings("production", tmp_path, treserva) as chosen:
        yield chosen


@pytest.fixture
async def production_stack(
    production_settings: Settings, treserva: RunningTreserva
) -> AsyncIterator[Stack]:
    async with running_bridge(production_settings) as bridge:
        yield Stack(treserva, bridge, production_settings)


@pytest.fixture
async def stack(settings: Settings, treserva: RunningTreserva) -> AsyncIterator[Stack]:
    async with running_bridge(settings) as bridge:
        yield Stack(treserva, bridge, settings)


@pytest.fixture
def start_bridge() -> Callable[[Settings, Bridge | None], object]:
    """For tests that stop and start bridges themselves."""

    def start(settings: Settings, bridge: Bridge | None = None) -> object:
        return running_bridge(settings, bridge=bridge)

    return start
