"""The load: synthetic patients' notices sent over MLLP like a hospital system would.

Each patient's notices (admission, estimated discharge, discharge-ready, discharge) go one
after the other, each only after the previous one was acknowledged AA, so the order a patient's
notices were *accepted* in is the order Treserva must file them in. Many patients at once, at a
steady overall rate. A notice answered AR (HL7 v2: not taken for reasons unrelated to its
content, e.g. the database is down), or not answered (connection lost, bridge killed), is sent
again with the same MSH-10, to the next bridge process, until it is accepted: a real sender's
at-least-once. AE (an error in the content) is final, as for a conforming sender.
``repeat_share`` of the accepted notices are sent once more on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.domain import identifiers

FIXTURE = Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7"
TRIGGERS = ("A01", "A08", "A16", "A03")
START, END = b"\x0b", b"\x1c\r"


def synthetic_personnummers() -> Iterator[str]:
    """Distinct 12-digit test personnummer with valid check digits (born 1930-1949, 98x)."""
    return identifiers.synthetic_personnummers(1930, 1949, "98")


@dataclass(frozen=True)
class Notice:
    control_id: str
    patient: str
    index: int  # position in the patient's sequence
    text: str


def _hl7(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def current_template(template: str, now: datetime) -> str:
    """The fixture's stay moved to now: admitted an hour ago, discharge expected in a week, so
    no legal deadline is already missed (the notices are on time, as in a normal day)."""
    times = {
        "20240301101500+0100": now,  # MSH-7
        "20240301101400+0100": now,  # EVN-2
        "20240301093000+0100": now - timedelta(minutes=30),  # EVN-6
        "20240301090500+0100": now - timedelta(hours=1),  # PV1-44 admitted
        "20240308120000+0100": now + timedelta(days=7),  # PV2-9 expected discharge
    }
    for old, moment in times.items():
        template = template.replace(old, _hl7(moment))
    return template


def patient_notices(run: str, number: int, personnummer: str, template: str) -> list[Notice]:
    notices = []
    for index, trigger in enumerate(TRIGGERS):
        control = f"{run}-{number:05d}-{index}"
        text = (
            template.replace("TC20240301-000123", control)
            .replace("191212121212", personnummer)
            .replace("ADT^A01^ADT_A01", f"ADT^{trigger}^ADT_{trigger}")
            .replace("EVN|A01", f"EVN|{trigger}")
            .replace("|P|2.5|||AL|NE|", "|P|2.5|||||")
        )
        notices.append(Notice(control, personnummer, index, text))
    return notices


def workload(run: str, size: int, first_person: int = 0) -> list[list[Notice]]:
    """``size`` notices (rounded up to whole patients of four), of persons from the
    ``first_person``-th synthetic personnummer on."""
    template = FIXTURE.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    template = current_template(template, datetime.now(UTC))
    people = itertools.islice(synthetic_personnummers(), first_person, None)
    patients = (size + len(TRIGGERS) - 1) // len(TRIGGERS)
    return [patient_notices(run, n, next(people), template) for n in range(patients)]


@dataclass
class SenderRecord:
    sent: set[str] = field(default_factory=set)
    accepted: dict[str, float] = field(default_factory=dict)  # control id -> when (wall clock)
    order: dict[str, list[str]] = field(default_factory=dict)  # patient -> accepted order
    repeats: int = 0
    repeats_acked: int = 0
    resends: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    given_up: set[str] = field(default_factory=set)


class RateLimiter:
    def __init__(self, per_second: float) -> None:
        self._interval = 1 / per_second
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


class MllpLane:
    """One connection at a time to one of the bridges; moves on to the next after a failure."""

    def __init__(self, ports: list[int], start: int, timeout: float) -> None:
        self._ports = ports
        self._turn = start
        self._timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, text: str) -> str:
        """MSA-1 of the answer; raises OSError / TimeoutError when there is none."""
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await self._connection()
                writer.write(START + text.encode() + END)
                await writer.drain()
                answer = await reader.readuntil(END)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            await self.drop()
            raise OSError(f"no answer: {type(error).__name__}") from error
        return _msa1(answer.strip(START + END).decode(errors="replace"))

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            port = self._ports[self._turn % len(self._ports)]
            self._streams = await asyncio.open_connection("127.0.0.1", port)
        return self._streams

    async def drop(self) -> None:
        """Close, and use the next bridge process next time."""
        self._turn += 1
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            try:
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass


def _msa1(ack: str) -> str:
    for segment in ack.split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")[1]
    return "??"


@dataclass
class Sender:
    ports: list[int]
    rate: float
    lanes: int = 32
    repeat_share: float = 0.0
    give_up_after: float = 300.0
    record: SenderRecord = field(default_factory=SenderRecord)
    seed: int = 4
    milestone: int = 0  # set :attr:`reached` once this many notices are accepted
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, patients: list[list[Notice]]) -> SenderRecord:
        queue: asyncio.Queue[list[Notice]] = asyncio.Queue()
        for notices in patients:
            queue.put_nowait(notices)
        limiter = RateLimiter(self.rate)
        rng = random.Random(self.seed)
        await asyncio.gather(
            *(
                self._lane(queue, limiter, rng, MllpLane(self.ports, n, 10))
                for n in range(self.lanes)
            )
        )
        return self.record

    async def _lane(
        self,
        queue: asyncio.Queue[list[Notice]],
        limiter: RateLimiter,
        rng: random.Random,
        lane: MllpLane,
    ) -> None:
        try:
            while not queue.empty():
                notices = queue.get_nowait()
                for notice in notices:
                    await limiter.acquire()
                    if not await self._until_accepted(lane, notice):
                        break  # later notices of this patient would overtake: stop this patient
                    if rng.random() < self.repeat_share:
                        await self._repeat(lane, notice)
        finally:
            await lane.drop()

    async def _until_accepted(self, lane: MllpLane, notice: Notice) -> bool:
        record = self.record
        record.sent.add(notice.control_id)
        deadline = time.monotonic() + self.give_up_after
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            if tries > 1:
                record.resends += 1
            try:
                code = await lane.send(notice.text)
            except OSError:
                code = "no answer"
            record.answers[code] = record.answers.get(code, 0) + 1
            if code == "AA":
                record.accepted[notice.control_id] = time.time()
                if len(record.accepted) >= self.milestone:
                    self.reached.set()
                record.order.setdefault(notice.patient, []).append(notice.control_id)
                return True
            if code == "AE":
                return False
            await asyncio.sleep(min(0.2 * tries, 2.0))
        record.given_up.add(notice.control_id)
        return False

    async def _repeat(self, lane: MllpLane, notice: Notice) -> None:
        self.record.repeats += 1
        for _ in range(20):
            try:
                if await lane.send(notice.text) == "AA":
                    self.record.repeats_acked += 1
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)
