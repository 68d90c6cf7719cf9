"""What only the RabbitMQ adapter does: topology, message properties, returns, reconnects.

Two tests disturb the whole broker (restart, memory alarm) and so run only when
``BRIDGE_TEST_DISRUPT_BROKER=1``: everyone else's connections to it drop too.
"""

from __future__ import annotations

import asyncio
import os

import pika
import pytest
from services import (
    AMQP_URL,
    Backend,
    close_rabbit_connection,
    rabbitmqctl,
    rabbitmqctl_json,
    task,
    wait_until,
)

from bridge.transport.amqp import MessageReturned
from bridge.transport.port import Broker, BrokerUnavailable, DeliveryTask
from bridge.transport.rabbitmq import RabbitBroker

pytest_plugins = ["conftest_transport"]
pytestmark = pytest.mark.rabbitmq

disruptive = pytest.mark.skipif(
    os.environ.get("BRIDGE_TEST_DISRUPT_BROKER") != "1",
    reason="restarts or blocks the shared broker; set BRIDGE_TEST_DISRUPT_BROKER=1",
)


async def test_destination_gets_durable_quorum_queues(rabbit_backend: Backend) -> None:
    broker = await rabbit_backend.broker()
    await broker.declare("treserva")
    prefix = rabbit_backend.prefix

    queues = {
        row["name"]: row
        for row in rabbitmqctl_json("list_queues", "name", "type", "durable", "arguments")
    }
    deliver = queues[f"{prefix}.deliver.treserva"]
    assert deliver["type"] == "quorum"
    assert deliver["durable"] is True
    assert ["x-dead-letter-exchange", "longstr", f"{prefix}.dlx"] in deliver["arguments"]
    assert queues[f"{prefix}.dead.treserva"]["type"] == "quorum"

    exchanges = {
        row["name"]: row for row in rabbitmqctl_json("list_exchanges", "name", "type", "durable")
    }
    assert exchanges[f"{prefix}.deliver"] == {
        "name": f"{prefix}.deliver",
        "type": "direct",
        "durable": True,
    }
    assert exchanges[f"{prefix}.dlx"]["durable"] is True


async def test_task_is_persistent_with_its_ids(rabbit_backend: Backend) -> None:
    # Given a published task
    broker = await rabbit_backend.broker()
    await broker.publish(task(1))

    # When another client looks at the queue
    properties = await asyncio.to_thread(_get_one, f"{rabbit_backend.prefix}.deliver.treserva")

    # Then the message carries the delivery id, the correlation id and persistence
    assert properties.message_id == "delivery-1"
    assert properties.correlation_id == "corr-1"
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"


async def test_unroutable_task_is_an_error_not_a_loss(rabbit_backend: Backend) -> None:
    # Given a destination whose queue was deleted behind the broker's back
    broker = await rabbit_backend.broker()
    await broker.declare("treserva")
    await asyncio.to_thread(_delete_queue, f"{rabbit_backend.prefix}.deliver.treserva")

    # When a task is published, Then the broker's return is an error
    with pytest.raises(MessageReturned):
        await broker.publish(task(1))

    # And the next publish declares the queue again and lands
    await broker.publish(task(2))
    assert await broker.depth("treserva") == 1


async def test_unreadable_task_is_dead_lettered(rabbit_backend: Backend) -> None:
    # Given garbage in a delivery queue (written by someone else)
    broker = await rabbit_backend.broker()
    await broker.declare("treserva")
    await asyncio.to_thread(_publish_raw, f"{rabbit_backend.prefix}.deliver.treserva", b"not json")
    seen: list[DeliveryTask] = []

    async def keep(delivery: DeliveryTask) -> None:
        seen.append(delivery)

    # When the consumer meets it, Then it is moved to the dead-letter queue, not lost or looped
    await broker.consume("treserva", keep)
    dead = f"{rabbit_backend.prefix}.dead.treserva"
    await wait_until(lambda: asyncio.to_thread(_ready, dead, 1), what="dead-lettered")
    assert seen == []


async def test_start_gives_up_on_a_silent_broker() -> None:
    # Given a TCP port that accepts connections and never speaks AMQP
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open until the client leaves
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = RabbitBroker(f"amqp://guest:guest@127.0.0.1:{port}/", connect_timeout=0.5)

    # When the broker starts, Then it fails within its timeout instead of hanging
    async with asyncio.timeout(5):
        with pytest.raises(BrokerUnavailable, match="unreachable"):
            await broker.start()
    server.close()
    assert await broker.ping() is False


async def test_start_fails_fast_when_nothing_listens() -> None:
    broker = RabbitBroker("amqp://guest:guest@127.0.0.1:1/", connect_timeout=5)
    async with asyncio.timeout(5):
        with pytest.raises(BrokerUnavailable):
            await broker.start()
    with pytest.raises(BrokerUnavailable, match="not started"):
        await broker.publish(task(1))


async def test_consumer_is_restored_after_the_broker_drops_the_connection(
    rabbit_backend: Backend,
) -> None:
    # Given a consumer in the middle of a task
    broker = await rabbit_backend.broker()
    assert isinstance(broker, RabbitBroker)
    calls: list[str] = []
    first_call = asyncio.Event()

    async def handler(delivery: DeliveryTask) -> None:
        calls.append(delivery.delivery_id)
        if len(calls) == 1:
            first_call.set()
            await asyncio.Event().wait()  # never finishes: its ack can never be sent

    await broker.consume("treserva", handler, prefetch=1)
    await broker.publish(task(1))
    await wait_until(first_call.is_set, what="first task held")

    # When the broker closes the connection (as it does when it restarts)
    assert await asyncio.to_thread(close_rabbit_connection, broker.connection_name) == 1

    # Then the robust connection comes back, the consumer is restored, the unfinished task is
    # delivered again, and new tasks flow
    await wait_until(lambda: "delivery-1" in calls[1:], what="redelivered after reconnect")
    await _publish_until_accepted(broker, task(2))
    await wait_until(lambda: "delivery-2" in calls, what="new task after reconnect")


@disruptive
async def test_consumer_survives_a_broker_restart(rabbit_backend: Backend) -> None:
    broker = await rabbit_backend.broker()
    calls: list[str] = []

    async def keep(delivery: DeliveryTask) -> None:
        calls.append(delivery.delivery_id)

    await broker.consume("treserva", keep)
    await broker.publish(task(1))
    await wait_until(lambda: calls == ["delivery-1"], what="before restart")

    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        with pytest.raises(BrokerUnavailable):
            await broker.publish(task(99))
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")

    await _publish_until_accepted(broker, task(2), within=60)
    await wait_until(lambda: "delivery-2" in calls, within=30, what="after restart")


@disruptive
async def test_publish_without_a_confirm_times_out(rabbit_backend: Backend) -> None:
    # Given a broker under a memory alarm: it blocks publishers and confirms nothing
    watermark = await asyncio.to_thread(
        rabbitmqctl, "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."
    )
    if not watermark.strip().replace(".", "", 1).isdigit():
        pytest.skip(f"cannot restore an absolute memory watermark ({watermark.strip()})")
    broker = await rabbit_backend.broker()
    assert isinstance(broker, RabbitBroker)
    broker.confirm_timeout = 1
    await broker.declare("treserva")
    await asyncio.to_thread(rabbitmqctl, "set_vm_memory_high_watermark", "0")
    try:
        # When a task is published, Then the caller hears about it within the timeout
        async with asyncio.timeout(10):
            with pytest.raises(BrokerUnavailable, match="confirm"):
                await broker.publish(task(1))
    finally:
        await asyncio.to_thread(rabbitmqctl, "set_vm_memory_high_watermark", watermark.strip())


async def _publish_until_accepted(
    broker: Broker, delivery: DeliveryTask, within: float = 20
) -> None:
    """Publishing fails fast while the connection is down; keep trying until it is back."""

    async def attempt() -> bool:
        try:
            await broker.publish(delivery)
        except BrokerUnavailable:
            return False
        return True

    await wait_until(attempt, within=within, what="publish after reconnect")


def _blocking() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(AMQP_URL))


def _get_one(queue: str) -> pika.BasicProperties:
    connection = _blocking()
    try:
        method, properties, _ = connection.channel().basic_get(queue, auto_ack=False)
        assert method is not None, f"{queue} is empty"
        return properties
    finally:
        connection.close()


def _delete_queue(queue: str) -> None:
    connection = _blocking()
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def _publish_raw(queue: str, body: bytes) -> None:
    connection = _blocking()
    try:
        connection.channel().basic_publish("", queue, body)
    finally:
        connection.close()


def _ready(queue: str, expected: int) -> bool:
    connection = _blocking()
    try:
        declared = connection.channel().queue_declare(queue, passive=True)
        return bool(declared.method.message_count == expected)
    finally:
        connection.close()
