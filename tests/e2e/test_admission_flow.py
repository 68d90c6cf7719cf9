"""Issue 2, end to end: an admission travels from a sender to the Treserva simulator.

Every test runs in both modes: embedded (SQLite + database queue) and production
(PostgreSQL + RabbitMQ), against the real services.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hl7.client
import httpx
import pytest
from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import func, select

from bridge.domain.fhir.validate import validate_resource
from bridge.domain.hl7.ack import parse_ack
from bridge.store.tables import DeliveryRow, MessageRow


def mllp_send_foreign(port: int, messages: list[str]) -> list[str]:
    """Send over one connection with python-hl7's client (not ours); return the ACK texts."""
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        return [client.send_message(message).decode() for message in messages]


async def inbox(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.treserva.base_url}/api/inbox")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()
    return items


async def inbox_for(stack: Stack, personnummer: str) -> list[dict[str, Any]]:
    return [item for item in await inbox(stack) if item["patient_identifier"] == personnummer]


async def settled(stack: Stack) -> bool:
    """No delivery left to do: every outbox row delivered (or dead)."""
    async with stack.bridge.bridge.db.session() as session:
        open_rows = await session.scalar(
            select(func.count()).where(DeliveryRow.status.not_in(("delivered", "dead")))
        )
    return open_rows == 0


async def test_foreign_mllp_client_gets_aa_and_treserva_files_a_valid_bundle(stack: Stack) -> None:
    # Given an ADT^A01 of a synthetic patient
    pnr = synthetic_personnummer()
    message = admission(control_id(), pnr)

    # When a client that is not ours sends it over MLLP
    [ack] = await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, [message])
    loop = asyncio.get_running_loop()
    acked_at = loop.time()

    # Then it gets AA, and within a second Treserva's inbox holds it as a valid FHIR R4 message
    assert parse_ack(ack).code == "AA"
    await wait_until(lambda: inbox_for(stack, pnr), within=1.0, what="notice in the inbox")
    assert loop.time() - acked_at < 1.0
    [item] = await inbox_for(stack, pnr)
    bundle = item["bundle"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "message"
    assert bundle["entry"][0]["resource"]["resourceType"] == "MessageHeader"
    assert item["event_code"] == "admission"
    assert validate_resource(bundle) == []
    for entry in bundle["entry"]:
        assert validate_resource(entry["resource"]) == [], entry["resource"]["resourceType"]


async def test_same_message_twice_two_aa_one_notice(stack: Stack) -> None:
    # Given one admission message
    pnr = synthetic_personnummer()
    message = admission(control_id(), pnr)

    # When it is sent twice
    acks = await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, [message, message])

    # Then both get AA, and exactly one notice reaches the inbox
    assert [parse_ack(a).code for a in acks] == ["AA", "AA"]
    await wait_until(lambda: inbox_for(stack, pnr), within=5, what="notice in the inbox")
    await wait_until(lambda: settled(stack), within=5, what="all deliveries settled")
    assert len(await inbox_for(stack, pnr)) == 1
    async with stack.bridge.bridge.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MessageRow)) == 1
        assert await session.scalar(select(func.count()).select_from(DeliveryRow)) == 1


@pytest.mark.parametrize(
    ("body", "expected_code", "names"),
    [
        pytest.param("this is not HL7 at all", "AE", "MSH", id="unparseable"),
        pytest.param(None, "AE", "PID-3", id="invalid-personnummer"),
        pytest.param("", "AE", "MSH", id="empty"),
    ],
)
async def test_bad_messages_get_a_named_error_and_the_connection_stays_usable(
    stack: Stack, body: str | None, expected_code: str, names: str
) -> None:
    # Given a bad message (a personnummer with a wrong check digit, or not HL7 at all)
    bad = body if body is not None else admission(control_id(), "191212121213")
    good_pnr = synthetic_personnummer()
    good = admission(control_id(), good_pnr)

    # When it is sent, followed by a good one on the same connection
    bad_ack, good_ack = await asyncio.to_thread(
        mllp_send_foreign, stack.bridge.mllp_port, [bad, good]
    )

    # Then the bad one is refused naming the problem, and the good one is accepted
    code, _, text = parse_ack(bad_ack)
    assert code == expected_code
    assert names in bad_ack
    assert text
    assert parse_ack(good_ack).code == "AA"
    await wait_until(lambda: inbox_for(stack, good_pnr), within=5, what="good notice delivered")
