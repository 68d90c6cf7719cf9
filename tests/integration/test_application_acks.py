"""Application ACKs (enhanced mode, MSH-16) decided from the deliveries and sent through the
hook the delivery side calls: AR when a delivery is dead-lettered, nothing while one is pending,
and MSH-16 ER / SU deciding which of them go out. Real SQLite database, real MLLP listener."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import hl7
import pytest
from sqlalchemy import select

from bridge.domain.hl7.ack_policy import AckContext
from bridge.domain.model import EventCode
from bridge.domain.routing import Acknowledgements, Destination, Route, RoutingTable, Source
from bridge.entrypoints.mllp import MllpServer
from bridge.service.clock import SystemClock
from bridge.service.delivery.application_acks import ApplicationAcks
from bridge.store import migrate
from bridge.store.db import Database
from bridge.store.tables import ApplicationAckRow, DeliveryRow, MessageRow

MSH = (
    "MSH|^~\\&|TakeCare|SE2120000803|Treserva|GOTLAND-SOF|20250101||ADT^A01^ADT_A01"
    "|{id}|P|2.5|||AL|{app}"
)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[MllpServer, list[str]]]:
    received: list[str] = []

    async def commit(raw: bytes) -> bytes:
        text = raw.decode()
        received.append(text)
        msh10 = str(hl7.parse(text).segment("MSH")[10])
        return f"MSH|^~\\&|TC|SE|||20250101||ACK|R|P|2.5\rMSA|CA|{msh10}\r".encode()

    async with MllpServer(commit, "127.0.0.1", 0) as server:
        yield server, received


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'acks.db'}"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    await database.close()


def context(port: int) -> AckContext:
    acks = Acknowledgements(return_address=f"mllp://127.0.0.1:{port}")
    return AckContext(
        routing=RoutingTable(
            sources=(Source(name="takecare", facilities=("SE2120000803",), acknowledgements=acks),),
            destinations=(Destination(name="treserva", address="http://127.0.0.1:1/fhir"),),
            routes=(Route(events=frozenset({EventCode.ADMISSION}), destinations=("treserva",)),),
        )
    )


async def waiting_message(db: Database, port: int, status: str, condition: str) -> str:
    """A message whose application ACK waits on one delivery in ``status``."""
    now = datetime.now(UTC)
    message_id, control = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:8]}"
    async with db.session() as session, session.begin():
        session.add(
            MessageRow(
                id=message_id, dedupe_key=f"SE|{control}", source="takecare", entrypoint="mllp",
                content_type="application/hl7-v2", event_code="admission", patient_key="k",
                patient_masked="-", payload="", canonical="{}", correlation_id="c",
                received_at=now,
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            DeliveryRow(
                id=str(uuid.uuid4()), message_id=message_id, destination="treserva",
                idempotency_key=str(uuid.uuid4()), patient_key="k", seq=1, status=status,
                content_type="application/fhir+json", payload="{}", attempts=3,
                next_attempt_at=now, created_at=now, updated_at=now,
                dead_reason="permanent" if status == "dead" else None,
            )
        )  # fmt: skip
        session.add(
            ApplicationAckRow(
                message_id=message_id, source="takecare",
                header=MSH.format(id=control, app=condition),
                return_address=f"mllp://127.0.0.1:{port}", state="waiting", attempts=0,
                created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
    return control


async def state_of(db: Database, control: str) -> str:
    async with db.session() as session:
        rows = (await session.scalars(select(ApplicationAckRow))).all()
    return next(row.state for row in rows if control in row.header)


async def test_a_dead_letter_gives_application_ar_through_the_hook(
    db: Database, listener: tuple[MllpServer, list[str]]
) -> None:
    server, received = listener
    acks = ApplicationAcks(db, context(server.port), SystemClock(), timeout=5)
    # Given a message asking for every application ACK, whose only delivery is dead-lettered
    control = await waiting_message(db, server.port, "dead", "AL")
    # When the delivery side calls the hook
    async with db.session() as session:
        message_id = (await session.scalars(select(ApplicationAckRow))).one().message_id
    await acks.settled(message_id)
    # Then the sender's return address got AR naming the message, with ERR-3 207
    [ack] = received
    parsed = hl7.parse(ack)
    assert str(parsed.segment("MSA")[1]) == "AR"
    assert str(parsed.segment("MSA")[2]) == control
    assert str(parsed.segment("ERR")[3][0][0]) == "207"
    assert await state_of(db, control) == "sent"


@pytest.mark.parametrize(
    ("status", "condition", "sent", "state"),
    [
        ("in_flight", "AL", 0, "waiting"),
        ("delivered", "AL", 1, "sent"),
        ("delivered", "ER", 0, "not_wanted"),
        ("dead", "SU", 0, "not_wanted"),
        ("dead", "ER", 1, "sent"),
    ],
)
async def test_msh_16_decides_which_application_acks_go_out(
    db: Database,
    listener: tuple[MllpServer, list[str]],
    status: str,
    condition: str,
    sent: int,
    state: str,
) -> None:
    server, received = listener
    acks = ApplicationAcks(db, context(server.port), SystemClock(), timeout=5)
    control = await waiting_message(db, server.port, status, condition)
    await acks.run_once()
    assert len(received) == sent
    assert await state_of(db, control) == state
