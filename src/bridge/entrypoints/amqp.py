"""AMQP inbound entrypoint: messages published to the ``bridge.inbound`` topic exchange.

The firm interface (ARCHITECTURE.md): ``content_type`` is ``application/hl7-v2`` or
``application/fhir+json``, ``message_id`` is required, the broker ack goes out only after the
message was accepted (committed), and the application ACK goes to ``reply_to`` when set.

Order per message, and why:
1. Refuse what can never be accepted (no ``message_id``, unknown content type): negative reply,
   then reject without requeue — the broker dead-letters it to ``<queue>.rejected``.
2. ``accept`` (the service layer: decode, dedupe, commit). "unavailable" or an exception means
   nothing was committed: requeue after a delay, never lose, never spin.
3. Reply to ``reply_to`` *before* the broker ack: if we crash in between, the redelivery is a
   duplicate, and the sender gets its ACK again; the other order could lose the ACK.
4. A message the service layer rejected for good (it can never be accepted as sent), and one
   whose accept raised on ``max_failed_deliveries`` deliveries (a poison message), is *parked*:
   a copy goes to ``<queue>.rejected`` with its reason in the headers ``x-bridge-reason`` and
   ``x-bridge-outcome`` (the copy confirmed first), then the original is acked. It is never
   requeued for ever. (A message over the quorum queue's own delivery limit is dead-lettered
   there by the broker, with ``x-death``.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)

from bridge.transport.amqp import (
    MessageReturned,
    bounded,
    close_quietly,
    open_connection,
    open_publish_channel,
    publish_confirmed,
    quorum_arguments,
    settle,
)
from bridge.transport.port import BrokerUnavailable

log = logging.getLogger(__name__)

HL7_V2 = "application/hl7-v2"
FHIR_JSON = "application/fhir+json"
CONTENT_TYPES = frozenset({HL7_V2, FHIR_JSON})

Outcome = Literal["accepted", "duplicate", "rejected", "unavailable", "refused"]
"""``refused``: the sender may not send as the source the message names (docs/security.md):
answered, then rejected without requeue, so the broker dead-letters it."""


@dataclass(frozen=True)
class InboundAmqpMessage:
    """What the service layer gets from one AMQP delivery."""

    body: bytes
    content_type: str
    message_id: str
    correlation_id: str | None = None
    reply_to: str | None = None
    app_id: str | None = None
    routing_key: str = ""
    redelivered: bool = False
    user_id: str | None = None


@dataclass(frozen=True)
class AmqpReply:
    """The service layer's answer: the application ACK to send, and what became of the message."""

    ack_body: bytes
    ack_content_type: str
    outcome: Outcome
    reason: str | None = None  # why it was rejected, for the dead-letter queue's headers


AcceptAmqp = Callable[[InboundAmqpMessage], Awaitable[AmqpReply]]
RefuseAmqp = Callable[[str, str | None], AmqpReply]


def json_refusal(reason: str, content_type: str | None) -> AmqpReply:
    """Default negative reply for a message refused before it reached the service layer."""
    body = json.dumps({"outcome": "rejected", "reason": reason, "content_type": content_type})
    return AmqpReply(body.encode(), "application/json", "rejected")


class AmqpInbound:
    """Consumes the inbound queue with manual acks; survives broker restarts (robust)."""

    def __init__(
        self,
        url: str,
        accept: AcceptAmqp,
        *,
        prefetch: int = 16,
        exchange: str = "bridge.inbound",
        queue: str = "bridge.inbound",
        refuse: RefuseAmqp = json_refusal,
        redelivery_delay: float = 1,
        reply_timeout: float = 10,
        connect_timeout: float = 10,
        reconnect_interval: float = 2,
        max_failed_deliveries: int = 5,
        require_user_id: bool = False,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.queue = queue
        self.rejected = f"{queue}.rejected"
        self.connection_name = f"bridge-inbound-{uuid.uuid4().hex[:12]}"
        self._accept = accept
        self._refuse = refuse
        self._prefetch = prefetch
        self._redelivery_delay = redelivery_delay
        self._reply_timeout = reply_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_interval = reconnect_interval
        self._max_failed_deliveries = max_failed_deliveries
        self._connection: AbstractRobustConnection | None = None
        self._replies: AbstractRobustChannel | None = None
        # Held here on purpose: aio-pika keeps only weak references to the channels it restores.
        self._channel: AbstractRobustChannel | None = None
        self._consumer: tuple[AbstractRobustQueue, str] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._require_user_id = require_user_id

    async def start(self) -> None:
        """Connect, declare the topology and start consuming; :class:`BrokerUnavailable` if not."""
        connection = await open_connection(
            self.url,
            name=self.connection_name,
            within=self._connect_timeout,
            reconnect_interval=self._reconnect_interval,
        )
        try:
            async with bounded(self._connect_timeout, "starting the AMQP inbound consumer"):
                self._replies = await open_publish_channel(connection, self._connect_timeout)
                self._channel = channel = connection.channel(publisher_confirms=False)
                await channel.initialize(timeout=self._connect_timeout)
                await channel.set_qos(prefetch_count=self._prefetch)
                queue = await self._declare(channel)
                self._consumer = (queue, await queue.consume(self._on_message))
        except BrokerUnavailable:
            self._channel = self._replies = self._consumer = None
            await close_quietly(connection, self._connect_timeout)
            raise
        self._connection = connection

    async def close(self) -> None:
        """Stop consuming; messages not yet acked go back to the queue."""
        self._closing = True
        if self._consumer is not None:
            queue, tag = self._consumer
            self._consumer = None
            try:
                async with bounded(self._connect_timeout, "cancelling the inbound consumer"):
                    await queue.cancel(tag)
            except BrokerUnavailable as exc:
                log.debug("ignored while closing: %s", exc)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        connection, self._connection = self._connection, None
        self._channel = self._replies = None
        if connection is not None:
            await close_quietly(connection, self._connect_timeout)

    async def _declare(self, channel: AbstractRobustChannel) -> AbstractRobustQueue:
        await channel.declare_exchange(self.rejected, aio_pika.ExchangeType.FANOUT, durable=True)
        parked = await channel.declare_queue(
            self.rejected, durable=True, arguments=quorum_arguments()
        )
        await parked.bind(self.rejected)
        await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            self.queue, durable=True, arguments=quorum_arguments(self.rejected)
        )
        await queue.bind(self.exchange, routing_key="#")
        return queue

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        current = asyncio.current_task()
        if current is None or self._closing:
            return  # closing: left unacked, the broker requeues it
        self._running.add(current)
        try:
            await self._process(message)
        finally:
            self._running.discard(current)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        problem = _problem(message)
        if problem is None and self._require_user_id and not message.user_id:
            problem = "user_id is required: publish with the connection's user as user_id"
        if problem is not None:
            await self._refuse_message(message, problem)
            return
        inbound = _inbound(message)
        reply = await self._call_accept(inbound)
        if reply.outcome == "unavailable":
            failed = reply.reason is not None  # accept raised, rather than the database down
            if failed and _deliveries(message) >= self._max_failed_deliveries:
                await self._park(message, reply.reason or "", "failed")
                return
            await self._requeue_later(message)
            return
        if inbound.reply_to and not await self._reply(inbound.reply_to, inbound.message_id, reply):
            await self._requeue_later(message)
            return
        if reply.outcome == "refused":
            log.warning(
                "refused AMQP message %s from user %s: not its source",
                inbound.message_id,
                inbound.user_id,
            )
            await self._park(message, reply.reason or "sender not allowed", "refused")
            return
        if reply.outcome == "rejected":
            await self._park(message, reply.reason or "rejected", "rejected")
            return
        await settle(message.ack())

    async def _park(self, message: AbstractIncomingMessage, reason: str, outcome: str) -> None:
        """Copy to the dead-letter queue with the reason, confirmed, then ack the original."""
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-bridge-reason": reason[:500],
                "x-bridge-outcome": outcome,
                "x-bridge-deliveries": _deliveries(message),
                "x-original-routing-key": message.routing_key or "",
            }
        )
        copy = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            app_id=message.app_id,
            headers=headers,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        if self._replies is None:
            await self._requeue_later(message)
            return
        try:
            async with bounded(self._reply_timeout, "finding the dead-letter exchange"):
                exchange = await self._replies.get_exchange(self.rejected, ensure=False)
            await publish_confirmed(exchange, copy, "", self._reply_timeout)
        except (BrokerUnavailable, MessageReturned) as exc:
            log.warning("could not park AMQP message %s: %s; requeued", message.message_id, exc)
            await self._requeue_later(message)
            return
        log.warning(
            "AMQP message %s parked in %s (%s): %s",
            message.message_id,
            self.rejected,
            outcome,
            reason[:200],
        )
        await settle(message.ack())

    async def _call_accept(self, inbound: InboundAmqpMessage) -> AmqpReply:
        try:
            return await self._accept(inbound)
        except Exception as error:
            # Type only: the text may quote the message (patient data).
            log.error(
                "accept failed for AMQP message %s: %s", inbound.message_id, type(error).__name__
            )
            return AmqpReply(
                b"", "", "unavailable", reason=f"accept failed: {type(error).__name__}"
            )

    async def _refuse_message(self, message: AbstractIncomingMessage, reason: str) -> None:
        log.warning(
            "refused AMQP message %s from %s: %s",
            message.message_id,
            message.app_id or "unknown sender",
            reason,
        )
        if message.reply_to:
            reply = self._refuse(reason, message.content_type)
            correlation = message.message_id or message.correlation_id
            if not await self._reply(message.reply_to, correlation, reply):
                await self._requeue_later(message)
                return
        await settle(message.reject(requeue=False))

    async def _reply(self, reply_to: str, correlation_id: str | None, reply: AmqpReply) -> bool:
        """Publish the ACK with a confirm. False when it should be tried again later.

        An unroutable reply (the sender's reply queue is gone) is logged and given up: retrying
        could never succeed and would hold the inbound message forever.
        """
        answer = aio_pika.Message(
            reply.ack_body,
            content_type=reply.ack_content_type,
            correlation_id=correlation_id,
            message_id=uuid.uuid4().hex,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        if self._replies is None:
            return False
        try:
            await publish_confirmed(
                self._replies.default_exchange, answer, reply_to, self._reply_timeout
            )
        except MessageReturned:
            log.warning(
                "reply queue %r does not exist; ACK for %s dropped", reply_to, correlation_id
            )
        except BrokerUnavailable as exc:
            log.warning("could not send the ACK for %s: %s; requeued", correlation_id, exc)
            return False
        return True

    async def _requeue_later(self, message: AbstractIncomingMessage) -> None:
        """Requeue after a pause, so a database outage does not become a redelivery storm."""
        await asyncio.sleep(self._redelivery_delay)
        await settle(message.nack(requeue=True))


def _problem(message: AbstractIncomingMessage) -> str | None:
    if not message.message_id:
        return "message_id is required"
    if _media_type(message.content_type) not in CONTENT_TYPES:
        expected = " or ".join(sorted(CONTENT_TYPES))
        return f"content_type {message.content_type!r} is not supported; use {expected}"
    return None


def _inbound(message: AbstractIncomingMessage) -> InboundAmqpMessage:
    return InboundAmqpMessage(
        body=message.body,
        content_type=_media_type(message.content_type),
        message_id=str(message.message_id),
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        app_id=message.app_id,
        routing_key=message.routing_key or "",
        redelivered=bool(message.redelivered),
        user_id=message.user_id,
    )


def _deliveries(message: AbstractIncomingMessage) -> int:
    """How many times the broker has handed this message out, this time included (quorum
    queues count earlier deliveries in ``x-delivery-count``)."""
    count = (message.headers or {}).get("x-delivery-count", 0)
    return (int(count) if isinstance(count, int) else 0) + 1


def _media_type(content_type: str | None) -> str:
    """``application/hl7-v2; charset=utf-8`` → ``application/hl7-v2``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


__all__ = [
    "FHIR_JSON",
    "HL7_V2",
    "AcceptAmqp",
    "AmqpInbound",
    "AmqpReply",
    "InboundAmqpMessage",
    "RefuseAmqp",
    "json_refusal",
]
