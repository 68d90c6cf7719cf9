"""Issue 12, inbound identity on AMQP: per-source RabbitMQ users, ``user_id`` bound to a source.

RabbitMQ refuses a ``user_id`` other than the publishing connection's user, so the bridge can
trust it; the bridge refuses (dead-letters) a message without one, and one whose sender names
another source. Runs against the real PostgreSQL and RabbitMQ with two throwaway users.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from conftest import Stack
from identity_support import CLIENT_SECRETS, make_identities, routing_file, secured
from messages import admission, control_id, synthetic_personnummer
from services import AMQP_URL, rabbitmqctl, wait_until
from sqlalchemy import select

from bridge.config import Settings
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import AuditRow, MessageRow
from support.token_issuer import token_issuer
from treserva_sim.server import RunningTreserva

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@contextlib.contextmanager
def rabbit_user(name: str) -> Iterator[str]:
    """A RabbitMQ user allowed to publish on ``/``; deleted afterwards. Its password."""
    password = secrets.token_urlsafe(16)
    rabbitmqctl("add_user", name, password)
    try:
        rabbitmqctl("set_permissions", "-p", "/", name, ".*", ".*", ".*")
        yield password
    finally:
        rabbitmqctl("delete_user", name)


def user_url(user: str, password: str) -> str:
    host = AMQP_URL.split("@", 1)[1]
    return f"amqp://{user}:{password}@{host}"


@pytest.fixture
def users() -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    takecare, treserva = f"test-takecare-{suffix}", f"test-treserva-{suffix}"
    with rabbit_user(takecare) as tc_password, rabbit_user(treserva) as ts_password:
        yield {
            "takecare": takecare,
            "treserva": treserva,
            "takecare_url": user_url(takecare, tc_password),
            "treserva_url": user_url(treserva, ts_password),
        }


@pytest.fixture
async def amqp_stack(
    production_settings: Settings,
    treserva: RunningTreserva,
    tmp_path: Path,
    users: dict[str, str],
) -> AsyncIterator[Stack]:
    identities = make_identities(tmp_path)
    routing = routing_file(
        tmp_path,
        identities,
        f"{treserva.base_url}/fhir",
        amqp_users=(users["takecare"], users["treserva"]),
    )
    async with token_issuer(CLIENT_SECRETS) as issuer:
        settings = secured(production_settings, identities, routing, issuer).model_copy(
            update={"amqp_require_user_id": True}
        )
        async with running_bridge(settings) as bridge:
            yield Stack(treserva, bridge, settings)


async def publish(url: str, exchange: str, message: str, user_id: str | None) -> str:
    connection: AbstractRobustConnection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        message_id = uuid.uuid4().hex
        await target.publish(
            aio_pika.Message(
                message.encode(),
                content_type="application/hl7-v2",
                message_id=message_id,
                user_id=user_id,
            ),
            routing_key="takecare.adt",
        )
    return message_id


async def dead_lettered(stack: Stack) -> list[aio_pika.abc.AbstractIncomingMessage]:
    found = []
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(f"{stack.settings.inbound_queue}.rejected", ensure=False)
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            found.append(message)
    return found


async def stored(stack: Stack) -> int:
    async with stack.bridge.bridge.db.session() as session:
        return len((await session.scalars(select(MessageRow.id))).all())


async def refusals(stack: Stack) -> list[dict[str, object]]:
    async with stack.bridge.bridge.db.session() as session:
        rows = await session.scalars(select(AuditRow).where(AuditRow.action == "sender-refused"))
        return [json.loads(row.detail) for row in rows]


async def test_each_amqp_user_sends_only_as_its_own_source(
    amqp_stack: Stack, users: dict[str, str]
) -> None:
    exchange = amqp_stack.settings.inbound_exchange
    hl7 = admission(control_id(), synthetic_personnummer())

    # TakeCare's user publishing TakeCare's message, with its user_id: accepted
    await publish(users["takecare_url"], exchange, hl7, users["takecare"])
    await wait_until(lambda: stored(amqp_stack), within=15, what="the message accepted")

    # Treserva's user publishing a message that names TakeCare's facility: refused, audited,
    # dead-lettered
    other = admission(control_id(), synthetic_personnummer())
    refused_id = await publish(users["treserva_url"], exchange, other, users["treserva"])

    async def refused() -> bool:
        return len(await refusals(amqp_stack)) == 1

    await wait_until(refused, within=15, what="the impersonation refused")
    [audited] = await refusals(amqp_stack)
    assert audited["sender"] == f"amqp-user {users['treserva']}"

    # A message without user_id: refused before the service layer, dead-lettered
    anonymous_id = await publish(users["takecare_url"], exchange, other, None)

    async def both_parked() -> bool:
        parked.extend(await dead_lettered(amqp_stack))
        return {m.message_id for m in parked} >= {refused_id, anonymous_id}

    parked: list[aio_pika.abc.AbstractIncomingMessage] = []
    await wait_until(both_parked, within=15, what="both refused messages dead-lettered")
    assert await stored(amqp_stack) == 1


async def test_rabbitmq_refuses_a_user_id_other_than_the_connections_user(
    amqp_stack: Stack, users: dict[str, str]
) -> None:
    # TakeCare's connection claiming to be Treserva's user: the broker itself refuses it
    hl7 = admission(control_id(), synthetic_personnummer())
    with pytest.raises(aio_pika.exceptions.AMQPError, match="user_id"):
        await publish(
            users["takecare_url"], amqp_stack.settings.inbound_exchange, hl7, users["treserva"]
        )
    assert await stored(amqp_stack) == 0
