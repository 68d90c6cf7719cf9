"""Issue 2: an admission published to ``bridge.inbound`` by a client that is not ours (pika)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pika
import pytest
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import delete_rabbit_entities, require_postgres, require_rabbitmq, wait_until
from test_admission_flow import inbox_for, settled

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.domain.hl7.ack import parse_ack
from bridge.entrypoints.runner import running_bridge
from bridge.service.delivery.accept import AcceptResult, Inbound
from treserva_sim.server import RunningTreserva

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def publish(url: str, exchange: str, body: str, message_id: str, reply_to: str | None) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange,
            "takecare.adt",
            body.encode(),
            pika.BasicProperties(
                content_type="application/hl7-v2",
                message_id=message_id,
                reply_to=reply_to,
                delivery_mode=2,
            ),
            mandatory=True,
        )
    finally:
        connection.close()


def declare_reply_queue(url: str) -> str:
    name = f"test-replies-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_declare(name, durable=False, auto_delete=False)
    finally:
        connection.close()
    return name


def take_reply(url: str, queue: str) -> tuple[str | None, bytes] | None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        method, properties, body = connection.channel().basic_get(queue, auto_ack=True)
        return None if method is None else (properties.correlation_id, body)
    finally:
        connection.close()


def queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def delete_queue(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


async def test_published_admission_reaches_treserva_once_with_ack_to_reply_to(
    production_stack: Stack,
) -> None:
    stack, production = production_stack, production_stack.settings
    url = production.broker_url
    assert url is not None
    replies = await asyncio.to_thread(declare_reply_queue, url)
    try:
        # Given an admission published by pika with a message_id and reply_to
        pnr = synthetic_personnummer()
        body, message_id = admission(control_id(), pnr), str(uuid.uuid4())
        await asyncio.to_thread(
            publish, url, production.inbound_exchange, body, message_id, replies
        )

        # Then it reaches Treserva, and the application ACK (AA) comes back on reply_to
        await wait_until(lambda: inbox_for(stack, pnr), within=10, what="notice delivered")
        reply = await asyncio.to_thread(take_reply, url, replies)
        assert reply is not None
        correlation, ack = reply
        assert correlation == message_id
        assert parse_ack(ack.decode()).code == "AA"

        # When the same message_id is published again
        await asyncio.to_thread(
            publish, url, production.inbound_exchange, body, message_id, replies
        )

        # Then it is acked (the queue drains, an ACK comes back) and not delivered twice
        await wait_until(lambda: take_reply(url, replies) is not None, within=10, what="second ACK")
        await wait_until(
            lambda: queue_depth(url, production.inbound_queue) == 0, within=10, what="acked"
        )
        await wait_until(lambda: settled(stack), within=10, what="deliveries settled")
        assert len(await inbox_for(stack, pnr)) == 1
    finally:
        await asyncio.to_thread(delete_queue, url, replies)


class StalledBridge(Bridge):
    """A bridge that receives but never gets to commit: it stops inside accept."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.entered = asyncio.Event()

    async def accept(self, inbound: Inbound) -> AcceptResult:
        self.entered.set()
        await asyncio.Event().wait()  # never returns; cancelled when the bridge stops
        raise AssertionError("unreachable")


async def test_bridge_stopped_between_receiving_and_committing_leaves_message_on_broker(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    url = require_rabbitmq()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    with require_postgres() as database_url:
        settings = Settings(
            database_url=database_url,
            broker_url=url,
            broker_prefix=prefix,
            inbound_exchange=f"{prefix}.inbound",
            inbound_queue=f"{prefix}.inbound",
            treserva_url=f"{treserva.base_url}/fhir",
            http_port=0,
            mllp_port=0,
            relay_interval_seconds=0.05,
        )
        try:
            pnr = synthetic_personnummer()
            body = admission(control_id(), pnr)

            # Given a bridge that has received the message but not committed it
            stalled = StalledBridge(settings)
            async with running_bridge(settings, bridge=stalled):
                await asyncio.to_thread(
                    publish, url, settings.inbound_exchange, body, str(uuid.uuid4()), None
                )
                await asyncio.wait_for(stalled.entered.wait(), timeout=10)
            # When that bridge stops, the message is still on the broker
            assert await asyncio.to_thread(queue_depth, url, settings.inbound_queue) == 1
            assert await inbox_for_sim(treserva, pnr) == []

            # Then a healthy bridge picks it up and delivers it
            async with running_bridge(settings):
                await wait_until(
                    lambda: inbox_for_sim(treserva, pnr), within=10, what="delivered after restart"
                )
            assert len(await inbox_for_sim(treserva, pnr)) == 1
        finally:
            delete_rabbit_entities(prefix)


async def inbox_for_sim(treserva: RunningTreserva, pnr: str) -> list[object]:
    items = treserva.reception.inbox.items()
    return [item for item in items if item.patient_identifier == pnr]
