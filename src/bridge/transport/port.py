"""The broker port: how a delivery task travels from the relay to a delivery worker.

RabbitMQ (aio-pika) implements it durably, proven by the shared suite
``tests/integration/test_transport_contract.py``. Without a broker, :mod:`.local` hands tasks to
this process's workers: there the outbox row and its lease are what is durable, so it keeps the
port's shape, not the durability promises below.

Semantics every adapter keeps:
- ``publish`` returns only once the task is durable (publisher confirm / committed row); it
  raises :class:`BrokerUnavailable` otherwise, never loses silently. A publish that timed out
  may still have landed, so a retry can duplicate a task: handlers must be idempotent (the
  task's ``idempotency_key`` is what makes that cheap).
- A consumer's handler returning normally acks the task; raising requeues it for redelivery
  after the adapter's ``redelivery_delay`` seconds, so a failing handler does not spin. This is
  for crashes, not a retry policy: RabbitMQ 4 quorum queues dead-letter a task after 20 failed
  deliveries, so retries with backoff belong in the outbox (ack, and publish again when due).
- A task whose handler never finished (consumer cancelled, connection lost, process killed) is
  delivered again. Delivery is at-least-once, never exactly-once.
- ``prefetch`` is how many handlers of one consumer may run at once. Tasks of one destination
  are handed out in publish order, so a single consumer with ``prefetch=1`` handles them
  strictly first in, first out. Several consumers never hold the same task at the same time.
- ``depth`` counts the tasks of a destination waiting for a consumer; tasks a live consumer
  holds right now are not counted.
- ``Consumer.cancel`` stops the consumer and abandons the handlers still running: their tasks
  go back to the queue for another consumer.
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
