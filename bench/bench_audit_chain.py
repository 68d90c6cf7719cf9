"""What the audit hash chain costs: transactions per second with and without it.

Each transaction writes what an accept writes to the audit log (three rows), from several
processes at once, on PostgreSQL (BRIDGE_BENCH_POSTGRES_URL, default the local test server)
and on SQLite. "chained" goes through ``audit.record`` (head row locked, hashes computed);
"plain" inserts the same rows without the chain, as the log was before.

    python bench/bench_audit_chain.py [--processes 4] [--transactions 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from bridge.store.tables import AuditRow

POSTGRES = os.environ.get(
    "BRIDGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _writer(url: str, chained: bool, transactions: int) -> list[float]:
    db = Database(url, audit_key=b"bench-only-audit-key")
    latencies = []
    try:
        for n in range(transactions):
            started = time.perf_counter()
            async with db.session() as session, session.begin():
                now = datetime.now(UTC)
                rows = [
                    {"action": action, "message_id": str(uuid.uuid4()), "n": n}
                    for action in ("accepted", "routed", "outbox")
                ]
                if chained:
                    for row in rows:
                        audit.record(session, at=now, **row)  # type: ignore[arg-type]
                else:
                    await session.execute(
                        insert(AuditRow),
                        [
                            {
                                "at": now,
                                "action": row["action"],
                                "message_id": row["message_id"],
                                "delivery_id": None,
                                "actor": "bridge",
                                "detail": json.dumps({"n": n}),
                            }
                            for row in rows
                        ],
                    )
            latencies.append(time.perf_counter() - started)
    finally:
        await db.close()
    return latencies


def _process(url: str, chained: bool, transactions: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(asyncio.run(_writer(url, chained, transactions)))


def run(url: str, chained: bool, processes: int, transactions: int) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(target=_process, args=(url, chained, transactions, queue))
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    latencies = [latency for _ in workers for latency in queue.get()]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "tx_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
    }


def fresh_postgres() -> tuple[str, str]:
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES).set(database=name).render_as_string(False), name


def drop_postgres(name: str) -> None:
    admin = make_url(POSTGRES).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=300)
    arguments = parser.parse_args()
    print(f"{arguments.processes} processes × {arguments.transactions} transactions × 3 rows")
    print(f"{'database':<11} {'audit log':<8} {'tx/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for database in ("postgresql", "sqlite"):
            for chained in (False, True):
                if database == "postgresql":
                    url, name = fresh_postgres()
                else:
                    url, name = f"sqlite:///{Path(directory) / f'{chained}.db'}", ""
                upgrade(url)
                try:
                    figures = run(url, chained, arguments.processes, arguments.transactions)
                finally:
                    if name:
                        drop_postgres(name)
                label = "chained" if chained else "plain"
                print(
                    f"{database:<11} {label:<8} {figures['tx_per_s']:>8.0f} "
                    f"{figures['p50_ms']:>8.2f} {figures['p95_ms']:>8.2f}",
                    flush=True,
                )
    sys.exit(0)


if __name__ == "__main__":
    main()
