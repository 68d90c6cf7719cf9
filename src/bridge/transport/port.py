"""The broker port: how a delivery task travels from the relay to a delivery worker.

Two adapters implement it — RabbitMQ (aio-pika) and a durable queue inside the database — and
one shared test suite (``tests/integration/test_transport_contract.py``) runs against both.

Semantics every adapter keeps:
- ``publish`` returns only once the task is durable (publisher confirm / committed row); it
  raises :class:`BrokerUnavailable` otherwise, never loses silently.
- A consumer's handler returning normally acks the task; raising requeues it for redelivery
  (after ``redelivery_delay`` seconds where the adapter supports a delay).
- A task whose handler never finished (process killed) is delivered again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class DeliveryTask(BaseModel):
    """A pointer to one outbox row; the row itself (in the database) is the truth."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    destination: str
    idempotency_key: str
    correlation_id: str = ""


class BrokerUnavailable(Exception):
    """The broker cannot take or hand out work right now (transient)."""


TaskHandler = Callable[[DeliveryTask], Awaitable[None]]


class Consumer(Protocol):
    async def cancel(self) -> None: ...


class Broker(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def declare(self, destination: str) -> None: ...

    async def publish(self, task: DeliveryTask) -> None: ...

    async def consume(
        self, destination: str, handler: TaskHandler, prefetch: int = 8
    ) -> Consumer: ...

    async def depth(self, destination: str) -> int: ...

    async def ping(self) -> bool: ...
