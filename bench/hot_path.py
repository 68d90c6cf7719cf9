"""The bridge's own cost per notice, in one process, without the network (``make bench-path``).

Accept → outbox → relay → broker → delivery worker, with the bridge's real store (SQLite or
PostgreSQL) and broker (embedded or RabbitMQ), and an in-memory destination that answers at
once, so what is measured is the bridge's own CPU and its database/broker work per notice:
CPU ms per notice (``time.process_time`` of this process: the database and broker servers'
own CPU is not in it), SQL statements and commits per notice (SQLAlchemy engine events).

Run it under a profiler to see where the time goes:
``py-spy record -o profile.svg -- python bench/hot_path.py`` or
``python -m pyinstrument bench/hot_path.py``.

    python bench/hot_path.py [--n 2000] [--concurrency 32] [--mode embedded|production]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.domain.identifiers import synthetic_personnummers
from bridge.service.delivery.accept import AcceptStatus, Inbound
from bridge.service.delivery.outbound import HL7_V2

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "hl7" / "adt_a01_v25.hl7"


class Sink:
    """An in-memory destination: delivered at once."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.received[message.idempotency_key] = time.monotonic()
        if len(self.received) >= self.expected:
            self.done.set()
        return SendResult(Outcome.DELIVERED, status_code=200)

    async def close(self) -> None:
        return None


def messages(n: int) -> list[bytes]:
    template = FIXTURE.read_text().replace("\r\n", "\r").replace("\n", "\r")
    out = []
    for i, pnr in zip(range(n), synthetic_personnummers(1930, 1949, "97"), strict=False):
        text_ = template.replace("191212121212", pnr).replace("TC20240301-000123", f"B{i:07d}")
        out.append(text_.replace("VN-2024-000123", f"VN-{i:07d}").encode())
    return out


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-path-"))
    env: dict[str, Any] = {"log_level": "WARNING", "http_port": 0, "mllp_port": 0}
    db_name = None
    if args.mode == "production":
        db_name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {db_name}"))
        env["database_url"] = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
        env["broker_url"] = "amqp://guest:guest@127.0.0.1:5672/"
        env["broker_prefix"] = db_name
        env["patient_key_secret"] = "bench-only-pseudonym-key"  # required on PostgreSQL
        env["audit_key"] = "bench-only-audit-key"
    else:
        env["database_url"] = f"sqlite:///{tmp / 'bridge.db'}"
    settings = Settings(**env)
    sink = Sink()
    bridge = Bridge(settings, connectors={"http": sink, "mllp": sink})
    await bridge.start()
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    event.listen(bridge.db.engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(bridge.db.engine.sync_engine, "commit", on_commit)
    bodies = messages(args.n)
    sink.expected = len(bodies)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    ack_times: list[float] = []

    async def sender() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.monotonic()
            result = await bridge.accept(Inbound(body, HL7_V2, "mllp", "bench"))
            if result.status is not AcceptStatus.ACCEPTED:
                raise SystemExit(f"not accepted: {result}")
            ack_times.append(time.monotonic() - started)

    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    accepted_wall = time.monotonic() - wall0
    await asyncio.wait_for(sink.done.wait(), timeout=args.timeout)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    await bridge.stop()
    ack_times.sort()
    n = len(bodies)
    print(f"mode={args.mode} n={n} C={args.concurrency} python={sys.version.split()[0]}")
    print(f"accepted/s {n / accepted_wall:8.0f}   delivered/s {n / wall:8.0f}")
    print(
        f"ACK p50 {ack_times[n // 2] * 1000:7.1f} ms  p99 {ack_times[int(n * 0.99)] * 1000:7.1f} ms"
    )
    print(f"CPU per notice {cpu / n * 1000:6.2f} ms (this process, accept+relay+deliver)")
    print(
        f"statements per notice {counts['statements'] / n:5.2f}  commits per notice "
        f"{counts['commits'] / n:5.2f}"
    )
    if db_name:
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE {db_name} WITH (FORCE)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--mode", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--timeout", type=float, default=600)
    os.environ.setdefault("BRIDGE_LOG_LEVEL", "WARNING")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
