"""The bench's load: synthetic patients' HL7 v2 notices over MLLP, HTTP or AMQP.

Each patient's notices (an ADT^A01 admission, then with ``per_patient`` > 1 the stay's A08,
A16, A03) go on one connection, each only after the previous one's ACK, so the order they were
accepted in is the order the destination must see them in. C connections ("lanes") share the
patients. Lean on purpose: raw asyncio streams for MLLP and HTTP, so the load costs far less CPU
than the bridge it measures. No retries: a notice answered anything but AA is counted as such.

Control ids are ``<run>-<patient>-<index>`` (MSH-10, at most 20 characters), which is all the
sink needs to check order and duplicates.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.domain.identifiers import synthetic_personnummers

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hl7" / "adt_a01_v25.hl7"
TRIGGERS = ("A01", "A08", "A16", "A03")
START, END = b"\x0b", b"\x1c\r"


def _hl7_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _template() -> str:
    """The fixture's stay moved to now, so no legal deadline is already missed."""
    text = FIXTURE.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    now = datetime.now(UTC)
    for old, moment in {
        "20240301101500+0100": now,
        "20240301101400+0100": now,
        "20240301093000+0100": now - timedelta(minutes=30),
        "20240301090500+0100": now - timedelta(hours=1),
        "20240308120000+0100": now + timedelta(days=7),
    }.items():
        text = text.replace(old, _hl7_time(moment))
    return text.replace("|P|2.5|||AL|NE|", "|P|2.5|||||").rstrip("\r")


@dataclass(frozen=True)
class Notice:
    control_id: str
    body: bytes


def workload(run: str, size: int, per_patient: int, first: int = 0) -> list[list[Notice]]:
    """``size`` notices (rounded up to whole patients), ``per_patient`` of each patient."""
    return list(patients(run, (size + per_patient - 1) // per_patient, per_patient, first))


def patients(run: str, count: int, per_patient: int, first: int = 0) -> Iterator[list[Notice]]:
    """``count`` patients' notices, made as they are asked for, of persons from the
    ``first``-th synthetic personnummer on."""
    template = _template()
    people = itertools.islice(synthetic_personnummers(), first, None)
    for number in range(count):
        person = next(people)
        notices = []
        for index in range(per_patient):
            trigger = TRIGGERS[index % len(TRIGGERS)]
            control = f"{run}-{number:06d}-{index}"
            text = (
                template.replace("TC20240301-000123", control)
                .replace("191212121212", person)
                .replace("VN-2024-000123", f"VN-{run}-{number:06d}")
                .replace("ADT^A01^ADT_A01", f"ADT^{trigger}^ADT_{trigger}")
                .replace("EVN|A01", f"EVN|{trigger}")
            )
            notices.append(Notice(control, text.encode()))
        yield notices


@dataclass
class SendRecord:
    sent_at: dict[str, float] = field(default_factory=dict)  # control id -> monotonic
    acked_at: dict[str, float] = field(default_factory=dict)  # AA only
    answers: dict[str, int] = field(default_factory=dict)
    first_send: float = 0.0
    last_ack: float = 0.0

    def note(self, control: str, sent: float, code: str) -> None:
        done = time.monotonic()
        self.answers[code] = self.answers.get(code, 0) + 1
        if code == "AA":
            self.acked_at[control] = done
            self.last_ack = max(self.last_ack, done)

    def ack_latencies(self) -> list[float]:
        return [self.acked_at[c] - self.sent_at[c] for c in self.acked_at]


class Pacer:
    """Fixed overall rate across lanes (``rate`` 0: as fast as the ACKs come back)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate if rate > 0 else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


def msa1(ack: bytes) -> str:
    start = ack.find(b"MSA|")
    if start < 0:
        return "??"
    return ack[start + 4 : start + 6].decode(errors="replace")


class MllpLane:
    def __init__(self, port: int, timeout: float) -> None:
        self._port = port
        self._timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, notice: Notice) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                if self._streams is None:
                    self._streams = await asyncio.open_connection("127.0.0.1", self._port)
                reader, writer = self._streams
                writer.write(START + notice.body + END)
                return msa1(await reader.readuntil(END))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            await self.close()
            return f"no answer ({type(error).__name__})"

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class HttpLane:
    """HTTP/1.1 keep-alive ``POST /hl7v2`` on a raw stream."""

    def __init__(self, port: int, timeout: float) -> None:
        self._port = port
        self._timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, notice: Notice) -> str:
        head = (
            f"POST /hl7v2 HTTP/1.1\r\nHost: 127.0.0.1:{self._port}\r\n"
            f"Content-Type: application/hl7-v2\r\nContent-Length: {len(notice.body)}\r\n"
            f"X-Correlation-ID: {notice.control_id}\r\n\r\n"
        )
        try:
            async with asyncio.timeout(self._timeout):
                if self._streams is None:
                    self._streams = await asyncio.open_connection("127.0.0.1", self._port)
                reader, writer = self._streams
                writer.write(head.encode() + notice.body)
                answer = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in answer.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            await self.close()
            return f"no answer ({type(error).__name__})"
        if not answer.startswith(b"HTTP/1.1 200"):
            return f"HTTP {answer[9:12].decode()}"
        return msa1(body)

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class AmqpSender:
    """Publishes to the bridge's inbound exchange; the application ACK comes to ``reply_to``."""

    def __init__(self, url: str, exchange: str, timeout: float) -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._connection: Any = None
        self._exchange: Any = None
        self._reply_queue = ""

    async def start(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(self._url, timeout=10)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.get_exchange(self._exchange_name)
        replies = await channel.declare_queue(
            f"e2ebench-replies-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True
        )
        self._reply_queue = replies.name
        await replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: Any) -> None:
        waiter = self._waiting.pop(message.correlation_id or "", None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message.body)

    async def send(self, notice: Notice) -> str:
        import aio_pika

        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[notice.control_id] = waiter
        message = aio_pika.Message(
            notice.body,
            content_type="application/hl7-v2",
            message_id=notice.control_id,
            reply_to=self._reply_queue,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await self._exchange.publish(message, routing_key="adt")
                return msa1(await waiter)
        except (OSError, TimeoutError) as error:
            self._waiting.pop(notice.control_id, None)
            return f"no answer ({type(error).__name__})"

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


Lane = MllpLane | HttpLane | AmqpSender


async def send_all(
    patients: list[list[Notice]],
    lanes: list[Lane],
    rate: float = 0.0,
    record: SendRecord | None = None,
) -> SendRecord:
    """Send every patient's notices, one patient at a time per lane, until all are answered."""
    record = record or SendRecord()
    queue = iter(patients)
    pacer = Pacer(rate)
    record.first_send = record.first_send or time.monotonic()

    async def run(lane: Lane) -> None:
        for notices in queue:
            for notice in notices:
                await pacer.wait()
                sent = time.monotonic()
                record.sent_at[notice.control_id] = sent
                record.note(notice.control_id, sent, await lane.send(notice))

    await asyncio.gather(*(run(lane) for lane in lanes))
    return record
