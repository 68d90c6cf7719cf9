"""The delivery guarantees under the batched hot path (issue 10), in both runtime modes.

Accepts share one transaction (group commit) and deliveries run in parallel across patients;
these tests prove that this keeps guarantee 1 (an answer only after the commit that carries the
message), guarantee 2 (a repeat inside one batch is a duplicate) and guarantee 4 (each
patient's notices in order while other patients' deliveries overlap).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from messages import admission, control_id, notice, synthetic_personnummer
from services import wait_until
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.service.delivery.accept import AcceptStatus, Inbound
from bridge.service.delivery.outbound import HL7_V2
from bridge.store.tables import DeliveryRow, MessageRow
from treserva_sim.server import RunningTreserva


class SlowReceiver:
    """A destination that takes a random few milliseconds per notice and remembers the order
    and how many notices were in flight at once; while ``down`` it answers 503."""

    def __init__(self) -> None:
        self.order: dict[str, list[str]] = defaultdict(list)
        self.in_flight = 0
        self.most_in_flight = 0
        self.keys: list[str] = []
        self.down = False
        self.refused = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.down:
            self.refused += 1
            return SendResult(Outcome.TRANSIENT, status_code=503, error="HTTP 503")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(0.001, 0.02))
        finally:
            self.in_flight -= 1
        self.keys.append(message.idempotency_key)
        self.order[_patient_of(message.body)].append(_event_of(message.body))
        return SendResult(Outcome.DELIVERED, status_code=200)

    async def close(self) -> None:
        return None


def _patient_of(body: str) -> str:
    marker = '"value":"'
    start = body.index(marker, body.index("personnummer")) + len(marker)
    return body[start : body.index('"', start)]


def _event_of(body: str) -> str:
    marker = '"code":"'
    start = body.index(marker, body.index("eventCoding")) + len(marker)
    return body[start : body.index('"', start)]


@pytest.fixture
async def receiving_bridge(settings: Settings) -> AsyncIterator[tuple[Bridge, SlowReceiver]]:
    receiver = SlowReceiver()
    bridge = Bridge(
        settings.model_copy(update={"delivery_concurrency": 16}),
        connectors={"http": receiver, "mllp": receiver},
    )
    await bridge.start()
    try:
        yield bridge, receiver
    finally:
        await bridge.stop()


def _inbound(text: str, transport_id: str | None = None) -> Inbound:
    entrypoint = "amqp" if transport_id else "mllp"
    return Inbound(text.encode(), HL7_V2, entrypoint, "test", transport_id=transport_id)


async def _stored_message_ids(bridge: Bridge) -> set[str]:
    async with bridge.db.session() as session:
        return set(await session.scalars(select(MessageRow.id)))


async def test_a_failed_shared_commit_answers_none_of_its_messages_accepted(
    settings: Settings, treserva: RunningTreserva
) -> None:
    # Given a bridge whose next commit that carries messages fails (the database goes away
    # between writing a batch and committing it)
    bridge = Bridge(settings.model_copy(update={"accept_batch_max": 8}))
    await bridge.start(deliver=False)
    armed = {"fail": True}

    def flag_batch(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            conn.info["writes_messages"] = True

    def fail_commit(conn: Any) -> None:
        if conn.info.pop("writes_messages", False) and armed["fail"]:
            armed["fail"] = False
            raise OperationalError("COMMIT", {}, Exception("injected: connection lost"))

    engine = bridge.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", flag_batch)
    event.listen(engine, "commit", fail_commit)
    try:
        # When 24 senders deliver at once
        texts = [admission(control_id(), synthetic_personnummer()) for _ in range(24)]
        results = await asyncio.gather(*(bridge.accept(_inbound(t)) for t in texts))

        # Then the messages shared commits, one batch failed as a whole ...
        group = bridge.acceptor.group
        assert group.batches < group.items, "messages must have shared commits"
        unavailable = [r for r in results if r.status is AcceptStatus.UNAVAILABLE]
        accepted = {r.message_id for r in results if r.status is AcceptStatus.ACCEPTED}
        assert 0 < len(unavailable) <= 8, "the injected failure must have hit one batch"
        assert len(unavailable) + len(accepted) == 24
        # ... and exactly the messages answered "accepted" are stored: none lost, none extra
        assert await _stored_message_ids(bridge) == accepted

        # When the senders resend what was not accepted
        retried = [t for t, r in zip(texts, results, strict=True) if not r.ok]
        again = await asyncio.gather(*(bridge.accept(_inbound(t)) for t in retried))

        # Then each is accepted once
        assert {r.status for r in again} == {AcceptStatus.ACCEPTED}
        assert len(await _stored_message_ids(bridge)) == 24
    finally:
        event.remove(engine, "before_cursor_execute", flag_batch)
        event.remove(engine, "commit", fail_commit)
        await bridge.stop()


async def test_repeats_inside_one_batch_are_recognised(
    settings: Settings, treserva: RunningTreserva
) -> None:
    # Given a bridge that is not delivering
    bridge = Bridge(settings)
    await bridge.start(deliver=False)
    try:
        before = bridge.acceptor.group.batches
        text = admission(control_id(), synthetic_personnummer())
        other = admission(control_id(), synthetic_personnummer())

        # When one message arrives five times at once (once more over AMQP with a message id
        # seen twice), together with another message
        results = await asyncio.gather(
            *(bridge.accept(_inbound(text)) for _ in range(3)),
            bridge.accept(_inbound(text, transport_id="amqp-1")),
            bridge.accept(_inbound(text, transport_id="amqp-1")),
            bridge.accept(_inbound(other)),
        )

        # Then they were written in one batch ...
        assert bridge.acceptor.group.batches == before + 1
        # ... the first is accepted and the four repeats are duplicates of it
        first, *repeats, second = results
        assert first.status is AcceptStatus.ACCEPTED
        assert [r.status for r in repeats] == [AcceptStatus.DUPLICATE] * 4
        assert {r.message_id for r in repeats} == {first.message_id}
        assert second.status is AcceptStatus.ACCEPTED
        # ... and one notice per message waits in the outbox
        async with bridge.db.session() as session:
            per_message = dict(
                (
                    await session.execute(
                        select(DeliveryRow.message_id, func.count()).group_by(
                            DeliveryRow.message_id
                        )
                    )
                ).all()
            )
        assert per_message == {first.message_id: 1, second.message_id: 1}

        # When the AMQP message id comes again later (a redelivery after a crash)
        later = await bridge.accept(_inbound(text, transport_id="amqp-1"))

        # Then it is the same message
        assert later.status is AcceptStatus.DUPLICATE
        assert later.message_id == first.message_id
    finally:
        await bridge.stop()


async def test_each_patient_in_order_while_patients_are_delivered_in_parallel(
    receiving_bridge: tuple[Bridge, SlowReceiver], tmp_path: Path
) -> None:
    bridge, receiver = receiving_bridge
    triggers = ["A01", "A08", "A16", "A03"]
    patients = [synthetic_personnummer() for _ in range(24)]

    async def episode(personnummer: str) -> None:
        for trigger in triggers:
            text = (
                admission(control_id(), personnummer)
                if trigger == "A01"
                else notice(control_id(), personnummer, trigger)
            )
            result = await bridge.accept(_inbound(text))
            assert result.status is AcceptStatus.ACCEPTED, result

    # When 24 patients' stays (4 notices each, each sent after the previous was accepted)
    # arrive at once
    await asyncio.gather(*(episode(p) for p in patients))

    # Then every notice is delivered once ...
    await wait_until(lambda: len(receiver.keys) >= 4 * len(patients), what="all delivered")
    assert len(set(receiver.keys)) == len(receiver.keys) == 4 * len(patients)
    # ... several patients' notices were in flight at the same time ...
    assert receiver.most_in_flight > 1
    # ... and each patient's arrived in the order they were accepted
    expected = [
        "admission",
        "estimated-discharge-changed",
        "discharge-ready",
        "discharge",
    ]
    for personnummer in patients:
        assert receiver.order[personnummer] == expected, personnummer


async def test_a_destination_that_is_down_is_probed_not_hammered_and_drains_on_recovery(
    receiving_bridge: tuple[Bridge, SlowReceiver],
) -> None:
    bridge, receiver = receiving_bridge
    # Given Treserva is down
    receiver.down = True
    patients = [synthetic_personnummer() for _ in range(30)]

    # When 30 patients' admissions and discharge-ready notices arrive meanwhile
    for personnummer in patients:
        for text in (
            admission(control_id(), personnummer),
            notice(control_id(), personnummer, "A16"),
        ):
            assert (await bridge.accept(_inbound(text))).status is AcceptStatus.ACCEPTED
    await wait_until(lambda: bridge.health.is_open("treserva"), what="breaker open")
    refused = receiver.refused
    await asyncio.sleep(1.5)

    # Then the waiting notices were not each tried again: probes (at least one per backoff
    # cap, issue 13) and attempts already in flight when it opened, far fewer than are waiting
    assert receiver.refused - refused < len(patients)
    assert refused < len(patients), "the breaker opened before every notice was tried"

    # When Treserva comes back
    receiver.down = False

    # Then the backlog drains by itself, each patient in order
    await wait_until(lambda: len(receiver.keys) == 2 * len(patients), what="backlog drained")
    for personnummer in patients:
        assert receiver.order[personnummer] == ["admission", "discharge-ready"]
