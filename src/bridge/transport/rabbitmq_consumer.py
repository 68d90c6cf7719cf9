"""One RabbitMQ consumer of delivery tasks: manual ack, delayed requeue, abandon on cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustQueue
from pydantic import ValidationError

from bridge.transport.amqp import AMQP_FAILURES, close_quietly, settle
from bridge.transport.port import DeliveryTask, TaskHandler

log = logging.getLogger(__name__)


class RabbitConsumer:
    """Runs the handler for each task on its own channel; the channel's prefetch bounds them.

    The ack goes out only after the handler returned. When the channel or connection drops
    before that, the broker requeues the task by itself; aio-pika's robust connection then
    re-opens the channel and re-registers this consumer (same callback, same tag).
    """

    def __init__(
        self,
        channel: AbstractRobustChannel,
        queue: AbstractRobustQueue,
        handler: TaskHandler,
        *,
        redelivery_delay: float,
        close_timeout: float,
        on_cancel: Callable[[RabbitConsumer], None],
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._handler = handler
        self._redelivery_delay = redelivery_delay
        self._close_timeout = close_timeout
        self._on_cancel = on_cancel
        self._tag: str | None = None
        self._cancelled = False
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def cancel(self) -> None:
        """Stop deliveries, abandon running handlers, close the channel (broker requeues)."""
        if self._cancelled:
            return
        self._cancelled = True
        self._on_cancel(self)
        if self._tag is not None:
            # Also removes the consumer from what aio-pika would restore after a reconnect.
            await _quietly(self._queue.cancel(self._tag), self._close_timeout)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await close_quietly(self._channel, self._close_timeout)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """Run the handler in a task of our own, shielded from the channel.

        aiormq runs this callback as a task of the channel and cancels it when the channel or
        connection closes. A handler cancelled half-way would leave its work (a delivery sent
        but not recorded) to be found again only when a lease runs out; shielded, it finishes,
        and only the ack is lost — the broker redelivers the task and the handler, idempotent,
        finds it done. :meth:`cancel` still abandons running handlers on purpose.
        """
        if self._cancelled:
            return  # not settled: the channel closes and the broker requeues it
        processing = asyncio.create_task(self._process(message))
        self._running.add(processing)
        processing.add_done_callback(self._running.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(processing)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            task = DeliveryTask.model_validate_json(message.body)
        except ValidationError:
            log.exception("unreadable delivery task %s moved to dead letters", message.message_id)
            await settle(message.reject(requeue=False))
            return
        try:
            await self._handler(task)
        except Exception:
            log.exception(
                "handler failed for delivery %s; requeued in %s s",
                task.delivery_id,
                self._redelivery_delay,
            )
            await asyncio.sleep(self._redelivery_delay)
            await settle(message.nack(requeue=True))
            return
        await settle(message.ack())


async def _quietly(call: Awaitable[Any], within: float) -> None:
    try:
        async with asyncio.timeout(within):
            await call
    except AMQP_FAILURES as exc:
        log.debug("ignored while cancelling a consumer: %r", exc)
