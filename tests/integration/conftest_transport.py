"""Fixtures shared by the transport and AMQP tests (helpers live in ``services``).

A test module loads them with ``pytest_plugins = ["conftest_transport"]``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from services import (
    Backend,
    Kind,
    create_tables,
    delete_rabbit_entities,
    require_postgres,
    require_rabbitmq,
)


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
async def broker_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each adapter on its real service, with a fresh database file / database / queue prefix."""
    kind: Kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.db'}"
        create_tables(url)
        async for opened in _serve(Backend(kind, url)):
            yield opened
    elif kind == "postgres":
        with require_postgres() as url:
            create_tables(url)
            async for opened in _serve(Backend(kind, url)):
                yield opened
    else:
        async for opened in _rabbit():
            yield opened


@pytest.fixture
async def rabbit_backend() -> AsyncIterator[Backend]:
    """RabbitMQ alone, for the tests of what only the RabbitMQ adapter does."""
    async for opened in _rabbit():
        yield opened


async def _rabbit() -> AsyncIterator[Backend]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    url = require_rabbitmq()
    try:
        async for opened in _serve(Backend("rabbitmq", url, prefix)):
            yield opened
    finally:
        await asyncio.to_thread(delete_rabbit_entities, prefix)


async def _serve(backend: Backend) -> AsyncIterator[Backend]:
    try:
        yield backend
    finally:
        await backend.aclose()


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def dbqueue_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The database queue alone, on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.db'}"
        create_tables(url)
        async for opened in _serve(Backend("sqlite", url)):
            yield opened
    else:
        with require_postgres() as url:
            create_tables(url)
            async for opened in _serve(Backend("postgres", url)):
                yield opened
