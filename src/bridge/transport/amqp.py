"""AMQP plumbing shared by the RabbitMQ broker adapter and the AMQP inbound entrypoint.

aio-pika leaves three traps that would break "accepted means durable", so every AMQP path in
the bridge goes through these helpers:

- ``connect_robust`` waits forever for an unreachable broker when cancelled from outside,
  and leaves its reconnect task running; :func:`open_connection` bounds the first connect
  and closes the half-made connection on failure.
- A robust channel's ``publish`` waits for reconnection without a limit and a lost publisher
  confirm never resolves; :func:`publish_confirmed` bounds the whole call.
- With ``mandatory=True`` but without ``on_return_raises`` an unroutable message comes back as
  a return value that is easy to ignore; :func:`open_publish_channel` makes it an exception and
  :func:`publish_confirmed` turns it into :class:`MessageReturned`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from yarl import URL

from bridge.transport.port import BrokerUnavailable

log = logging.getLogger(__name__)

# What a lost or refused broker raises at us; all of it is transient for the caller.
AMQP_FAILURES: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)


class MessageReturned(BrokerUnavailable):
    """The broker could not route a mandatory message to any queue (it was not stored)."""


def quorum_arguments(
    dead_letter_exchange: str | None = None, dead_letter_routing_key: str | None = None
) -> dict[str, Any]:
    """Queue arguments for a replicated quorum queue.

    With a dead-letter exchange, at-least-once dead-lettering is used (it needs
    ``reject-publish`` overflow), so a message dropped by the broker — a rejected poison message,
    or one over RabbitMQ 4's default delivery limit of 20 — is moved, never deleted. A fixed
    routing key makes that hold however the message arrived (e.g. published straight to the
    queue through the default exchange, whose routing key the dead-letter queue would not know).
    """
    arguments: dict[str, Any] = {"x-queue-type": "quorum"}
    if dead_letter_exchange:
        arguments.update(
            {
                "x-dead-letter-exchange": dead_letter_exchange,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        )
    if dead_letter_routing_key:
        arguments["x-dead-letter-routing-key"] = dead_letter_routing_key
    return arguments


async def open_connection(
    url: str, *, name: str, within: float, reconnect_interval: float
) -> AbstractRobustConnection:
    """Connect robustly, but give up on the first attempt after ``within`` seconds.

    Raises :class:`BrokerUnavailable` instead of hanging when the broker is unreachable.
    """
    target = URL(url).update_query(name=name)
    connection = aio_pika.RobustConnection(target, reconnect_interval=reconnect_interval)
    try:
        async with asyncio.timeout(within):
            await connection.connect(timeout=within)
    except AMQP_FAILURES as exc:
        await close_quietly(connection, within)
        raise BrokerUnavailable(f"RabbitMQ at {_safe(target)} is unreachable: {exc!r}") from exc
    return connection


async def open_publish_channel(
    connection: AbstractRobustConnection, within: float
) -> AbstractRobustChannel:
    """A channel with publisher confirms on which an unroutable message raises."""
    channel = connection.channel(publisher_confirms=True, on_return_raises=True)
    async with asyncio.timeout(within):
        await channel.initialize(timeout=within)
    return channel


async def publish_confirmed(
    exchange: AbstractExchange,
    message: AbstractMessage,
    routing_key: str,
    within: float,
) -> None:
    """Publish and wait for the broker's confirm; any failure is :class:`BrokerUnavailable`."""
    try:
        async with asyncio.timeout(within):
            await exchange.publish(message, routing_key=routing_key, mandatory=True)
    except PublishError as exc:
        raise MessageReturned(
            f"no queue is bound for routing key {routing_key!r} on exchange {exchange.name!r}"
        ) from exc
    except DeliveryError as exc:
        raise BrokerUnavailable(f"broker refused the message (nack): {exc!r}") from exc
    except TimeoutError as exc:
        raise BrokerUnavailable(f"no publisher confirm within {within} s") from exc
    except AMQP_FAILURES as exc:
        raise BrokerUnavailable(f"publish failed: {exc!r}") from exc


@asynccontextmanager
async def bounded(within: float, what: str) -> AsyncIterator[None]:
    """Run a broker round trip with a deadline; a timeout or AMQP failure is transient."""
    try:
        async with asyncio.timeout(within):
            yield
    except TimeoutError as exc:
        raise BrokerUnavailable(f"{what}: no answer from RabbitMQ within {within} s") from exc
    except AMQP_FAILURES as exc:
        raise BrokerUnavailable(f"{what}: {exc!r}") from exc


async def close_quietly(closable: Any, within: float) -> None:
    """Close a connection or channel without letting a dead broker block shutdown."""
    try:
        async with asyncio.timeout(within):
            await closable.close()
    except AMQP_FAILURES:
        return


async def settle(settlement: Awaitable[None]) -> None:
    """Await an ack, nack or reject; if the channel is gone the broker requeues by itself.

    aio-pika refuses to settle on a channel that was closed (the delivery tag would be
    meaningless on the re-opened one), which is right: only log it.
    """
    try:
        await settlement
    except AMQP_FAILURES as exc:
        log.warning("could not settle a delivery (the broker will redeliver it): %r", exc)


class KeyedLocks:
    """One lock per key, dropped when nobody holds or waits for it.

    aiormq matches a returned (unroutable) message to its publish by ``message_id``; two
    publishes with the same id in flight on one channel could resolve each other's futures
    (aio-pika issue #689), so publishes of one id take turns.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


def _safe(url: URL) -> str:
    return str(url.with_password("***") if url.password else url)
