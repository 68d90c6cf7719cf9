"""The AMQP inbound entrypoint against the real broker, fed by ``pika`` (a client not ours).

The service layer is a fake ``accept``; what is proven here is the entrypoint's promise: broker
ack only after accept, ACK to ``reply_to`` first, never losing a message it could not accept.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, cast

import pika
import pytest
from services import (
    AMQP_URL,
    close_rabbit_connection,
    delete_rabbit_entities,
    require_rabbitmq,
    wait_until,
)

from bridge.entrypoints.amqp import HL7_V2, AmqpInbound, AmqpReply, InboundAmqpMessage, Outcome
from bridge.transport.port import BrokerUnavailable

pytestmark = pytest.mark.rabbitmq

DELAY = 0.2
HL7 = b"MSH|^~\\&|TAKECARE|KS|BRIDGE|KOMMUN|20250101120000||ADT^A01|MSG0001|P|2.5\r"

Step = str | Exception  # an outcome to answer, "block" to never answer, or an error to raise


@dataclass
class FakeAccept:
    """The service layer's stand-in: answers the scripted steps in order, then "accepted"."""

    steps: list[Step] = field(default_factory=list)
    calls: list[InboundAmqpMessage] = field(default_factory=list)

    async def __call__(self, message: InboundAmqpMessage) -> AmqpReply:
        self.calls.append(message)
        step = self.steps.pop(0) if self.steps else "accepted"
        if isinstance(step, Exception):
            raise step
        if step == "block":
            await asyncio.Event().wait()
        reason = "PV1-3: ward name is too long" if step == "rejected" else None
        return AmqpReply(
            b"MSA|AA|" + message.message_id.encode(), HL7_V2, cast(Outcome, step), reason
        )


class StartInbound(Protocol):
    def __call__(self, accept: FakeAccept, prefetch: int = 16) -> Awaitable[AmqpInbound]: ...


@dataclass
class Names:
    prefix: str
    exchange: str
    queue: str
    replies: str


@pytest.fixture
def names() -> Iterator[Names]:
    require_rabbitmq()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield Names(prefix, f"{prefix}.inbound", f"{prefix}.inbound", f"{prefix}.replies")
    delete_rabbit_entities(prefix)


@pytest.fixture
async def start_inbound(names: Names) -> AsyncIterator[StartInbound]:
    """Factory for started entrypoints on the test's names; all closed afterwards."""
    started: list[AmqpInbound] = []

    async def start(accept: FakeAccept, prefetch: int = 16) -> AmqpInbound:
        inbound = AmqpInbound(
            AMQP_URL,
            accept,
            prefetch=prefetch,
            exchange=names.exchange,
            queue=names.queue,
            redelivery_delay=DELAY,
            reconnect_interval=0.5,
        )
        await inbound.start()
        started.append(inbound)
        return inbound

    yield start
    for inbound in started:
        await inbound.close()


async def test_messages_from_another_client_are_accepted_then_acked(
    names: Names, start_inbound: StartInbound
) -> None:
    # Given the entrypoint taking one message at a time (prefetch 1: the broker hands out the
    # next message only once the previous one is settled), and a service layer that accepts,
    # recognises a duplicate and rejects (an application-level AR is still a handled message)
    accept = FakeAccept(["accepted", "duplicate", "rejected", "accepted"])
    await start_inbound(accept, prefetch=1)

    # When another client publishes HL7 messages to the topic exchange
    for number in (1, 2, 3, 4):
        await publish(names, "takecare.adt", message_id=f"MSG000{number}", correlation_id="c-1")

    # Then accept gets each as sent, once, in order: each was settled before the next came
    await wait_until(lambda: len(accept.calls) == 4, what="accept called")
    got = accept.calls[0]
    assert (got.body, got.content_type, got.message_id) == (HL7, HL7_V2, "MSG0001")
    assert (got.correlation_id, got.routing_key, got.app_id) == ("c-1", "takecare.adt", "takecare")
    assert [call.message_id for call in accept.calls] == [f"MSG000{n}" for n in (1, 2, 3, 4)]

    # And settled: nothing back in the queue; only the rejected one parked (issue 12)
    await wait_until(lambda: ready_is(names.queue, 0), what="none requeued")
    await wait_until(lambda: ready_is(f"{names.queue}.rejected", 1), what="rejected parked")
    assert not any(call.redelivered for call in accept.calls)


async def test_reply_to_gets_the_application_ack(names: Names, start_inbound: StartInbound) -> None:
    # Given the entrypoint and a sender listening on its own reply queue
    await start_inbound(FakeAccept())
    await asyncio.to_thread(declare_queue, names.replies)

    # When the sender asks for a reply
    await publish(names, "takecare.adt", message_id="MSG0002", reply_to=names.replies)

    # Then the ACK arrives, correlated with the message_id, and the message is acked
    reply = await get_reply(names.replies)
    assert reply.body == b"MSA|AA|MSG0002"
    assert reply.properties.content_type == HL7_V2
    assert reply.properties.correlation_id == "MSG0002"


@pytest.mark.parametrize(
    ("message_id", "content_type", "reason"),
    [
        (None, HL7_V2, "message_id is required"),
        ("MSG0003", "text/csv", "content_type 'text/csv' is not supported"),
    ],
)
async def test_message_that_can_never_be_accepted_is_refused(
    names: Names,
    start_inbound: StartInbound,
    message_id: str | None,
    content_type: str,
    reason: str,
) -> None:
    # Given the entrypoint
    accept = FakeAccept()
    await start_inbound(accept)
    await asyncio.to_thread(declare_queue, names.replies)

    # When a message breaks the interface
    await publish(
        names, "x", message_id=message_id, content_type=content_type, reply_to=names.replies
    )

    # Then the sender gets a negative reply, accept never sees it, and it is parked, not lost
    reply = await get_reply(names.replies)
    assert json.loads(reply.body)["outcome"] == "rejected"
    assert reason in json.loads(reply.body)["reason"]
    await wait_until(lambda: ready_is(f"{names.queue}.rejected", 1), what="parked")
    assert accept.calls == []


@pytest.mark.parametrize("failure", ["unavailable", RuntimeError("database down")])
async def test_message_not_accepted_stays_on_the_broker(
    names: Names, start_inbound: StartInbound, failure: Step
) -> None:
    # Given a service layer that cannot accept the first time (database down)
    accept = FakeAccept([failure])
    await start_inbound(accept)

    # When a message arrives
    await publish(names, "takecare.adt", message_id="MSG0004")

    # Then it is delivered again, after the pause, and acked once accepted
    await wait_until(lambda: len(accept.calls) == 2, what="redelivered")
    first, second = accept.calls
    assert first.message_id == second.message_id == "MSG0004"
    assert (first.redelivered, second.redelivered) == (False, True)


async def test_consumer_closed_before_accept_finishes_leaves_the_message(
    names: Names, start_inbound: StartInbound
) -> None:
    # Given an entrypoint whose accept never finishes
    stuck = FakeAccept(["block"])
    first = await start_inbound(stuck)
    await publish(names, "takecare.adt", message_id="MSG0005")
    await wait_until(lambda: len(stuck.calls) == 1, what="accept started")

    # When it is closed (its connection goes) before accept returns
    await first.close()

    # Then the message is back on the broker and the next entrypoint accepts it
    await wait_until(lambda: ready_is(names.queue, 1), what="requeued")
    successor = FakeAccept()
    await start_inbound(successor)
    await wait_until(lambda: len(successor.calls) == 1, what="redelivered")
    assert successor.calls[0].redelivered is True


async def test_connection_dropped_by_the_broker_mid_accept_redelivers(
    names: Names, start_inbound: StartInbound
) -> None:
    # Given an entrypoint in the middle of an accept that never finishes
    accept = FakeAccept(["block"])
    inbound = await start_inbound(accept)
    await publish(names, "takecare.adt", message_id="MSG0006")
    await wait_until(lambda: len(accept.calls) == 1, what="accept started")

    # When the broker drops the connection
    assert await asyncio.to_thread(close_rabbit_connection, inbound.connection_name) == 1

    # Then the entrypoint reconnects by itself, gets the message again and acks it
    await wait_until(lambda: len(accept.calls) == 2, what="redelivered after reconnect")
    assert accept.calls[1].redelivered is True


async def test_start_against_no_broker_raises() -> None:
    inbound = AmqpInbound("amqp://guest:guest@127.0.0.1:1/", FakeAccept(), connect_timeout=2)
    async with asyncio.timeout(5):
        with pytest.raises(BrokerUnavailable):
            await inbound.start()
    await inbound.close()


# -- the other client's side (pika, blocking, run in a thread) --------------------------------


async def publish(
    names: Names,
    routing_key: str,
    *,
    message_id: str | None,
    content_type: str = HL7_V2,
    correlation_id: str | None = None,
    reply_to: str | None = None,
) -> None:
    properties = pika.BasicProperties(
        content_type=content_type,
        message_id=message_id,
        correlation_id=correlation_id,
        reply_to=reply_to,
        app_id="takecare",
        delivery_mode=2,
    )
    await asyncio.to_thread(_publish, names.exchange, routing_key, properties)


def _publish(exchange: str, routing_key: str, properties: pika.BasicProperties) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, routing_key, HL7, properties, mandatory=True)
    finally:
        connection.close()


def declare_queue(name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().queue_declare(name)
    finally:
        connection.close()


@dataclass
class Reply:
    body: bytes
    properties: pika.BasicProperties


async def get_reply(queue: str, within: float = 10) -> Reply:
    replies: list[Reply] = []

    def fetch() -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        try:
            method, properties, body = connection.channel().basic_get(queue, auto_ack=True)
        finally:
            connection.close()
        if method is not None:
            replies.append(Reply(body, properties))
        return bool(replies)

    await wait_until(lambda: asyncio.to_thread(fetch), within=within, what=f"reply on {queue}")
    return replies[0]


async def ready_is(queue: str, expected: int) -> bool:
    """Ready messages from a passive declare: live, unlike rabbitmqctl's periodic counts."""

    def ready() -> int:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        try:
            declared = connection.channel().queue_declare(queue, passive=True)
            return int(declared.method.message_count)
        finally:
            connection.close()

    return await asyncio.to_thread(ready) == expected


async def test_a_rejected_message_is_parked_with_its_reason(
    names: Names, start_inbound: StartInbound
) -> None:
    accept = FakeAccept(["rejected"])
    await start_inbound(accept)
    await asyncio.to_thread(declare_queue, names.replies)

    await publish(names, "takecare.adt", message_id="MSG0100", reply_to=names.replies)

    # The sender still gets its answer, and the message waits in the dead-letter queue with
    # the reason; it is not requeued
    await get_reply(names.replies)
    parked = await get_reply(f"{names.queue}.rejected")
    headers = parked.properties.headers or {}
    assert headers["x-bridge-outcome"] == "rejected"
    assert headers["x-bridge-reason"] == "PV1-3: ward name is too long"
    assert headers["x-original-routing-key"] == "takecare.adt"
    assert parked.properties.message_id == "MSG0100"
    assert parked.body == HL7
    await wait_until(lambda: ready_is(names.queue, 0), what="not requeued")
    assert len(accept.calls) == 1


async def test_a_message_whose_accept_keeps_failing_is_parked_not_requeued_for_ever(
    names: Names, start_inbound: StartInbound
) -> None:
    accept = FakeAccept([RuntimeError("poison")] * 20)
    await start_inbound(accept)

    await publish(names, "takecare.adt", message_id="MSG0101")

    parked = await get_reply(f"{names.queue}.rejected", within=20)
    headers = parked.properties.headers or {}
    assert headers["x-bridge-outcome"] == "failed"
    assert headers["x-bridge-reason"] == "accept failed: RuntimeError"
    assert headers["x-bridge-deliveries"] == 5
    assert len(accept.calls) == 5
    await asyncio.sleep(3 * DELAY)
    assert len(accept.calls) == 5
