"""RabbitMQ adapter of the broker port: quorum queues, publisher confirms, robust consumers.

The topology (one quorum queue per destination, dead-letter queues) is in
:mod:`bridge.transport.rabbitmq_topology`; the consumer in :mod:`.rabbitmq_consumer`.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection, AbstractRobustExchange
from aio_pika.exceptions import ChannelNotFoundEntity

from bridge.transport.amqp import (
    KeyedLocks,
    MessageReturned,
    bounded,
    close_quietly,
    open_connection,
    open_publish_channel,
    publish_confirmed,
)
from bridge.transport.port import BrokerUnavailable, Consumer, DeliveryTask, TaskHandler
from bridge.transport.rabbitmq_consumer import RabbitConsumer
from bridge.transport.rabbitmq_topology import DeliveryTopology

TASK_CONTENT_TYPE = "application/json"

T = TypeVar("T")


class RabbitBroker:
    """The broker port on RabbitMQ through one robust aio-pika connection per process."""

    name = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "bridge",
        confirm_timeout: float = 10,
        connect_timeout: float = 10,
        reconnect_interval: float = 2,
        redelivery_delay: float = 1,
    ) -> None:
        self.url = url
        self.topology = DeliveryTopology(prefix)
        self.confirm_timeout = confirm_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_interval = reconnect_interval
        self.redelivery_delay = redelivery_delay
        # Unique per broker instance so an operator (or a test) can find this connection.
        self.connection_name = f"{prefix}-broker-{uuid.uuid4().hex[:12]}"
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractRobustExchange | None = None
        self._declared: set[str] = set()
        self._publishing = KeyedLocks()
        # Strong references: aio-pika restores only channels still alive (it keeps weak ones).
        self._consumers: set[RabbitConsumer] = set()

    async def start(self) -> None:
        """Connect and declare the exchanges; :class:`BrokerUnavailable` after the timeout."""
        if self._connection is not None:
            return
        connection = await open_connection(
            self.url,
            name=self.connection_name,
            within=self.connect_timeout,
            reconnect_interval=self.reconnect_interval,
        )
        try:
            async with bounded(self.connect_timeout, "declaring the exchanges"):
                channel = await open_publish_channel(connection, self.connect_timeout)
                self._exchange = await self.topology.declare_exchanges(channel)
        except BrokerUnavailable:
            await close_quietly(connection, self.connect_timeout)
            raise
        self._connection, self._channel = connection, channel

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.cancel()
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        self._declared.clear()
        if connection is not None:
            await close_quietly(connection, self.connect_timeout)

    async def declare(self, destination: str) -> None:
        async with bounded(self.confirm_timeout, f"declaring {destination!r}"):
            await self.topology.declare_destination(self._require(self._channel), destination)
        self._declared.add(destination)

    async def publish(self, task: DeliveryTask) -> None:
        """Return once the broker confirmed the task is in the destination's quorum queue."""
        exchange = self._require(self._exchange)
        if task.destination not in self._declared:
            await self.declare(task.destination)
        # aiormq matches a returned message to its publish by message_id: never have two
        # publishes with the same delivery_id in flight at once on the channel.
        async with self._publishing.hold(task.delivery_id):
            try:
                await publish_confirmed(
                    exchange, _task_message(task), task.destination, self.confirm_timeout
                )
            except MessageReturned:
                # The queue went away behind our back: declare it again on the next publish.
                self._declared.discard(task.destination)
                raise

    async def consume(self, destination: str, handler: TaskHandler, prefetch: int = 8) -> Consumer:
        """Consume on a channel of its own, so prefetch and restore are per consumer."""
        channel = self._require(self._connection).channel(publisher_confirms=False)
        try:
            async with bounded(self.connect_timeout, f"starting a consumer on {destination!r}"):
                await channel.initialize(timeout=self.connect_timeout)
                await channel.set_qos(prefetch_count=prefetch)
                await self.topology.declare_exchanges(channel)
                queue = await self.topology.declare_destination(channel, destination)
                consumer = RabbitConsumer(
                    channel,
                    queue,
                    handler,
                    redelivery_delay=self.redelivery_delay,
                    close_timeout=self.connect_timeout,
                    on_cancel=self._consumers.discard,
                )
                await consumer.start()
        except BrokerUnavailable:
            await close_quietly(channel, self.connect_timeout)
            raise
        self._consumers.add(consumer)
        return consumer

    async def depth(self, destination: str) -> int:
        """Ready messages, from a passive declare on a throw-away channel.

        A passive declare of a missing queue closes its channel, hence the separate channel;
        ``robust=False`` keeps aio-pika from re-declaring the queue after a reconnect.
        """
        channel = self._require(self._connection).channel(publisher_confirms=False)
        try:
            async with bounded(self.confirm_timeout, f"reading the depth of {destination!r}"):
                await channel.initialize(timeout=self.confirm_timeout)
                queue = await channel.declare_queue(
                    self.topology.queue_name(destination), passive=True, robust=False
                )
        except BrokerUnavailable as exc:
            if isinstance(exc.__cause__, ChannelNotFoundEntity):
                return 0
            raise
        finally:
            await close_quietly(channel, self.confirm_timeout)
        return int(queue.declaration_result.message_count or 0)

    async def ping(self) -> bool:
        """True when a channel can be opened now (a real round trip, not a cached flag)."""
        if self._connection is None or self._connection.is_closed:
            return False
        channel = self._connection.channel(publisher_confirms=False)
        try:
            async with bounded(self.confirm_timeout, "ping"):
                await channel.initialize(timeout=self.confirm_timeout)
        except BrokerUnavailable:
            return False
        finally:
            await close_quietly(channel, self.confirm_timeout)
        return True

    @staticmethod
    def _require(value: T | None) -> T:
        if value is None:
            raise BrokerUnavailable("RabbitBroker is not started (call start() first)")
        return value


def _task_message(task: DeliveryTask) -> aio_pika.Message:
    return aio_pika.Message(
        task.model_dump_json().encode(),
        content_type=TASK_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=task.delivery_id,
        correlation_id=task.correlation_id or None,
        type="bridge.delivery-task",
    )


__all__ = ["RabbitBroker"]
