"""Names and declarations of the RabbitMQ delivery topology, for one prefix.

All durable; for a prefix ``p``:

- direct exchange ``p.deliver``; per destination a quorum queue ``p.deliver.<destination>``
  bound with the destination as routing key;
- direct exchange ``p.dlx``; per destination a quorum queue ``p.dead.<destination>`` that
  receives what the broker dead-letters from the delivery queue (an unreadable task, or one over
  the broker's delivery limit), so nothing the broker drops is lost.

Declaring is idempotent, and aio-pika re-declares what a robust channel declared after a
reconnect, so every channel that needs an entity declares it itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustExchange, AbstractRobustQueue

from bridge.transport.amqp import quorum_arguments


@dataclass(frozen=True)
class DeliveryTopology:
    prefix: str

    @property
    def deliver_exchange(self) -> str:
        return f"{self.prefix}.deliver"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def queue_name(self, destination: str) -> str:
        return f"{self.prefix}.deliver.{destination}"

    def dead_queue_name(self, destination: str) -> str:
        return f"{self.prefix}.dead.{destination}"

    async def declare_exchanges(self, channel: AbstractRobustChannel) -> AbstractRobustExchange:
        """Declare both exchanges; returns the delivery exchange to publish to."""
        await channel.declare_exchange(
            self.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        return await channel.declare_exchange(
            self.deliver_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )

    async def declare_destination(
        self, channel: AbstractRobustChannel, destination: str
    ) -> AbstractRobustQueue:
        """Declare a destination's delivery and dead-letter queues with their bindings."""
        dead = await channel.declare_queue(
            self.dead_queue_name(destination), durable=True, arguments=quorum_arguments()
        )
        await dead.bind(self.dead_letter_exchange, routing_key=destination)
        queue = await channel.declare_queue(
            self.queue_name(destination),
            durable=True,
            # A fixed dead-letter routing key: the dead queue is bound by destination, whatever
            # routing key the message arrived with.
            arguments=quorum_arguments(self.dead_letter_exchange, destination),
        )
        await queue.bind(self.deliver_exchange, routing_key=destination)
        return queue
