"""Play synthetic traffic through a whole bridge on a controllable clock, without sleeping.

The bridge runs in-process with its real accept, relay, delivery worker, receipts and deadline
check; only time and the far ends are played:

- :class:`ManualClock` is the bridge's clock, set to each message's synthetic time;
- :class:`CollectingBroker` holds the relay's tasks until :meth:`Playback.pump` hands them to
  the delivery worker, so a notice is delivered at the very moment it was sent;
- :class:`Receivers` is the outbound connector: it files what it gets per destination, and for
  Treserva schedules the receipt the generator decided (or none);
- messages go in through the HTTP entrypoint (ASGI, no socket): TakeCare's ADT/SIU as HL7 v2,
  enrolments and receipts as FHIR.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.domain.fhir.decode import relayed_origin
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import CareTransitionEvent, EventCode, MessageOrigin, Receipt
from bridge.domain.routing import HOSPITAL_EVENTS
from bridge.entrypoints.http import create_app
from bridge.transport.port import DeliveryTask, TaskHandler
from support.ward_month import (
    TAKECARE,
    TAKECARE_FACILITY,
    TRESERVA,
    TRESERVA_FACILITY,
    Send,
    WardMonth,
)

HOME_CARE = frozenset({EventCode.HOMECARE_ENROLMENT_STARTED, EventCode.HOMECARE_ENROLMENT_ENDED})


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class _NoConsumer:
    async def cancel(self) -> None:
        return None


class CollectingBroker:
    """A broker port that only collects: the test hands the tasks to the worker itself."""

    name = "collecting"

    def __init__(self) -> None:
        self.tasks: list[DeliveryTask] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def declare(self, destination: str) -> None:
        return None

    async def publish(self, task: DeliveryTask) -> None:
        self.tasks.append(task)

    async def consume(
        self, destination: str, handler: TaskHandler, prefetch: int = 8
    ) -> _NoConsumer:
        return _NoConsumer()

    async def depth(self, destination: str) -> int:
        return sum(task.destination == destination for task in self.tasks)

    async def ping(self) -> bool:
        return True


@dataclass(frozen=True)
class Received:
    destination: str
    at: datetime
    idempotency_key: str
    event_code: str
    header_id: str
    origin_message_id: str | None
    bundle: dict[str, Any]


@dataclass
class Receivers:
    """The systems on the far side: everything received, and Treserva's receipts scheduled."""

    clock: ManualClock
    receipt_after: dict[str, timedelta | None]
    schedule: Callable[[datetime, str], None]
    received: list[Received] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> SendResult:
        bundle = json.loads(message.body)
        header = bundle["entry"][0]["resource"]
        origin = relayed_origin(bundle)
        origin_id = origin.message_id if origin is not None else None
        item = Received(
            message.destination.name,
            self.clock.now(),
            message.idempotency_key,
            header["eventCoding"]["code"],
            header["id"],
            origin_id,
            bundle,
        )
        self.received.append(item)
        if message.destination.name == "treserva" and origin_id is not None:
            delay = self.receipt_after.get(origin_id)
            if delay is not None:
                self.schedule(self.clock.now() + delay, item.header_id)
        return SendResult(Outcome.DELIVERED, 200)

    async def close(self) -> None:
        return None

    def at(self, destination: str) -> list[Received]:
        return [item for item in self.received if item.destination == destination]


Action = Callable[[], Awaitable[None]]


class Playback:
    """Runs timed actions in time order against one bridge."""

    def __init__(self, bridge: Bridge, clock: ManualClock, broker: CollectingBroker) -> None:
        self.bridge = bridge
        self.clock = clock
        self.broker = broker
        self._queue: list[tuple[datetime, int, Action]] = []
        self._order = itertools.count()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(bridge)), base_url="http://bridge"
        )

    def at(self, moment: datetime, action: Action) -> None:
        heapq.heappush(self._queue, (moment.astimezone(UTC), next(self._order), action))

    async def run(self, until: datetime | None = None) -> None:
        """Every action in time order (those up to ``until`` when given)."""
        while self._queue:
            if until is not None and self._queue[0][0] > until:
                return
            moment, _, action = heapq.heappop(self._queue)
            self.clock.set(moment)
            await action()

    async def pump(self) -> None:
        """Relay every due delivery and deliver it now; repeat until nothing moves."""
        while True:
            await self.bridge.relay.relay_once()
            if not self.broker.tasks:
                return
            tasks, self.broker.tasks = self.broker.tasks, []
            for task in tasks:
                await self.bridge.worker.handle(task)

    async def send(self, sent: Send) -> None:
        """The sender's message through the HTTP entrypoint, then delivery at once."""
        event = sent.event
        if sent.system == TAKECARE and event.event not in HOME_CARE:
            body = encode_hl7(event, control_id=sent.message_id, now=sent.at)
            response = await self.client.post(
                "/hl7v2", content=body.encode(), headers={"content-type": "application/hl7-v2"}
            )
            assert "MSA|AA|" in response.text, response.text
        else:
            await self.post_fhir(event, sent.message_id)
        await self.pump()

    async def receipt(self, header_id: str) -> None:
        """Treserva confirms a notice is in its worklist."""
        event = CareTransitionEvent(
            event=EventCode.RECEIPT,
            origin=MessageOrigin(
                sending_application=TRESERVA,
                sending_facility=TRESERVA_FACILITY,
                message_id=str(uuid.uuid4()),
                sent_at=self.clock.now(),
            ),
            receipt=Receipt(responds_to=header_id, code="ok"),
        )
        await self.post_fhir(event, str(uuid.uuid4()))

    async def post_fhir(self, event: CareTransitionEvent, bundle_id: str) -> None:
        bundle = encode_message_bundle(
            event,
            bundle_id=bundle_id,
            idempotency_key=str(uuid.uuid4()),
            source_name=event.origin.sending_facility,
            source_endpoint=f"urn:system:{event.origin.sending_facility}",
            destination_name="bridge",
            destination_endpoint="http://bridge/fhir",
            now=self.clock.now(),
        )
        response = await self.client.post(
            "/fhir/$process-message",
            content=dumps(bundle),
            headers={"content-type": "application/fhir+json"},
        )
        assert response.status_code == 200, response.text

    async def close(self) -> None:
        await self.client.aclose()


def routing_file(path: Path) -> Path:
    """TakeCare's and Treserva's messages told apart by sending facility; notices to Treserva
    (receipts expected), enrolments to TakeCare, deviation alerts to the quality inbox."""
    hospital = sorted(code.value for code in HOSPITAL_EVENTS if code is not EventCode.DEVIATION)
    table = {
        "sources": [
            {"name": "takecare", "facilities": [TAKECARE_FACILITY]},
            {"name": "treserva", "facilities": [TRESERVA_FACILITY]},
            {"name": "bridge", "facilities": ["bridge"]},
        ],
        "destinations": [
            {
                "name": "treserva",
                "address": "http://treserva.example/fhir",
                "receipt_timeout_seconds": 14400,
            },
            {"name": "takecare", "address": "http://takecare.example/fhir"},
            {"name": "quality", "address": "http://quality.example/fhir"},
        ],
        "routes": [
            {"events": hospital, "source": "takecare", "destinations": ["treserva"]},
            {
                "events": ["homecare-enrolment-started", "homecare-enrolment-ended"],
                "source": "treserva",
                "destinations": ["takecare"],
            },
            {"events": ["deviation"], "source": "bridge", "destinations": ["quality"]},
        ],
    }
    path.write_text(yaml.safe_dump(table), encoding="utf-8")
    return path


def month_settings(database_url: str, directory: Path) -> Settings:
    return Settings(
        database_url=database_url,
        routing_file=routing_file(directory / "routing.yaml"),
        http_port=0,
        mllp_port=0,
    )


@contextlib.asynccontextmanager
async def played(
    traffic: WardMonth, settings: Settings, until: datetime | None = None
) -> AsyncIterator[tuple[Bridge, Receivers]]:
    """``traffic`` played through a bridge to its end, or only up to ``until`` (deadline check
    once a simulated day); the bridge is stopped on exit."""
    clock = ManualClock(traffic.sends[0].at)
    broker = CollectingBroker()
    playback: Playback | None = None

    def schedule_receipt(at: datetime, header_id: str) -> None:
        assert playback is not None
        player = playback
        player.at(at, lambda: player.receipt(header_id))

    receipts = {send.message_id: send.receipt_after for send in traffic.sends}
    receivers = Receivers(clock, receipts, schedule_receipt)
    bridge = Bridge(settings, clock=clock, broker=broker, connectors={"http": receivers})
    await bridge.start(deliver=False)
    playback = Playback(bridge, clock, broker)
    try:
        for send in traffic.sends:
            playback.at(send.at, _sending(playback, send))
        day = traffic.sends[0].at
        while day <= traffic.ends_at:
            playback.at(day, bridge.deadlines.check)
            day += timedelta(days=1)
        await playback.run(until)
        clock.set(until or traffic.ends_at)
        await bridge.deadlines.check()
        yield bridge, receivers
    finally:
        await playback.close()
        await bridge.stop()


def _sending(playback: Playback, send: Send) -> Action:
    return lambda: playback.send(send)
