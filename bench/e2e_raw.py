"""The floors the bridge stands on, measured in the same run as the bench (bench/e2e.py).

- RabbitMQ: persistent messages through a quorum queue, published with confirms (up to
  ``in_flight`` unconfirmed at once) and consumed with manual acks, end to end: messages/s from
  the first publish to the last ack. The client is aio-pika in this one Python process, so the
  figure is also bounded by this client's CPU.
- PostgreSQL: small INSERT + COMMIT (autocommit), ``clients`` concurrent connections, into an
  ordinary (WAL-logged) table of a temporary database: commits/s.
- SQLite: the bridge's settings (WAL, synchronous=FULL), a small INSERT + COMMIT loop on one
  connection, in a file next to where the bench's bridge databases go: commits/s.

Each runs for ``seconds`` and cleans up after itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from pathlib import Path

import psycopg

from e2e_stack import AMQP_URL, create_database, drop_database, pg_url

PAYLOAD = b"x" * 1024


async def rabbitmq_rate(seconds: float = 3.0, in_flight: int = 64) -> float:
    import aio_pika

    name = f"e2ebench-raw-{uuid.uuid4().hex[:10]}"
    publisher = await aio_pika.connect(AMQP_URL, timeout=10)
    consumer = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await publisher.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        consumed = 0
        last = 0.0
        published = 0
        publishing = True
        all_in = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal consumed, last
            await message.ack()
            consumed += 1
            last = time.monotonic()
            if not publishing and consumed >= published:
                all_in.set()

        reader = await consumer.channel()
        await reader.set_qos(prefetch_count=256)
        consumed_queue = await reader.get_queue(name)
        tag = await consumed_queue.consume(on_message)
        started = time.monotonic()
        limit = asyncio.Semaphore(in_flight)

        async def publish() -> None:
            try:
                await channel.default_exchange.publish(
                    aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=name,
                )
            finally:
                limit.release()

        pending = set()
        while time.monotonic() - started < seconds:
            await limit.acquire()
            published += 1
            task = asyncio.create_task(publish())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        publishing = False
        if consumed < published:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 30)
        await consumed_queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return consumed / (last - started) if last > started else 0.0
    finally:
        await publisher.close()
        await consumer.close()


async def postgres_rate(seconds: float = 3.0, clients: int = 4) -> float:
    name = f"e2ebench_raw_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(create_database, name)
    try:
        url = pg_url(name)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as setup:
            await setup.execute("CREATE TABLE raw (id bigserial PRIMARY KEY, body text)")
        counts = [0] * clients
        started = time.monotonic()

        async def client(number: int) -> None:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                while time.monotonic() - started < seconds:
                    await conn.execute("INSERT INTO raw (body) VALUES (%s)", ("notice",))
                    counts[number] += 1

        await asyncio.gather(*(client(n) for n in range(clients)))
        return sum(counts) / (time.monotonic() - started)
    finally:
        await asyncio.to_thread(drop_database, name)


def sqlite_rate(directory: Path, seconds: float = 2.0) -> float:
    path = directory / f"raw-{uuid.uuid4().hex[:8]}.db"
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, body TEXT)")
        connection.commit()
        commits = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            connection.execute("INSERT INTO raw (body) VALUES (?)", ("notice",))
            connection.commit()
            commits += 1
        return commits / (time.monotonic() - started)
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
