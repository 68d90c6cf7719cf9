"""Fixtures shared by the transport and AMQP tests (helpers live in ``services``).

A test module loads them with ``pytest_plugins = ["conftest_transport"]``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from services import (
    Backend,
    delete_rabbit_entities,
    require_rabbitmq,
)


@pytest.fixture(params=[pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def broker_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each durable broker adapter on its real service, with a fresh queue prefix.

    RabbitMQ is the one durable adapter; without a broker the relay dispatches in-process
    (``transport/local.py``, unit-tested on its own), the outbox being the durable queue.
    """
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
