"""What only the embedded database queue does: leases, lease renewal, local wake-up, outages.

Parametrized by ``dbqueue_backend``: a SQLite file and a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from services import Backend, create_tables, require_postgres, task, wait_until
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from bridge.store.db import Database
from bridge.store.tables import QueueEntryRow
from bridge.transport.dbqueue import DatabaseBroker
from bridge.transport.port import BrokerUnavailable, DeliveryTask

pytest_plugins = ["conftest_transport"]


async def test_row_whose_lease_ran_out_is_handed_out_again(dbqueue_backend: Backend) -> None:
    # Given a row leased by a process that died a minute ago
    database = Database(dbqueue_backend.url)
    long_ago = datetime.now(UTC) - timedelta(minutes=1)
    async with database.session() as session, session.begin():
        await session.execute(
            insert(QueueEntryRow).values(
                destination="treserva",
                body=task(1).model_dump_json(),
                enqueued_at=long_ago,
                available_at=long_ago,
                lease_owner="dead-host:1:deadbeef/1",
                lease_until=long_ago,
                deliveries=1,
            )
        )
    seen: list[str] = []

    async def keep(delivery: DeliveryTask) -> None:
        seen.append(delivery.delivery_id)

    # When a live consumer runs
    broker = await dbqueue_backend.broker()
    await broker.consume("treserva", keep)

    # Then it gets the row and removes it once handled
    await wait_until(lambda: seen == ["delivery-1"], what="expired lease reclaimed")
    await wait_until(lambda: _table_empty(database), what="row deleted")
    await database.close()


async def test_slow_handler_keeps_renewing_its_lease(dbqueue_backend: Backend) -> None:
    # Given a short lease and a handler slower than the lease
    broker = await dbqueue_backend.broker(lease_seconds=0.6)
    database = Database(dbqueue_backend.url)
    release = asyncio.Event()
    calls: list[str] = []

    async def slow(delivery: DeliveryTask) -> None:
        calls.append(delivery.delivery_id)
        await release.wait()

    await broker.publish(task(1))
    claimed_at = datetime.now(UTC)
    await broker.consume("treserva", slow)
    await wait_until(lambda: calls == ["delivery-1"], what="claimed")

    # When the first lease would have run out, the holder has renewed it
    async def renewed() -> bool:
        lease = await _lease_until(database)
        return lease is not None and lease > claimed_at + timedelta(seconds=1.2)

    await wait_until(renewed, what="lease renewed twice")
    assert await broker.depth("treserva") == 0

    # Then nobody else got it, and finishing deletes the row
    release.set()
    await wait_until(lambda: _table_empty(database), what="row deleted")
    assert calls == ["delivery-1"]
    await database.close()


async def test_local_publish_wakes_the_consumer_at_once(dbqueue_backend: Backend) -> None:
    # Given a consumer that polls only every ten seconds, idle after its first task
    broker = await dbqueue_backend.broker(poll_interval=10)
    database = Database(dbqueue_backend.url)
    seen: list[str] = []

    async def keep(delivery: DeliveryTask) -> None:
        seen.append(delivery.delivery_id)

    await broker.publish(task(1))
    await broker.consume("treserva", keep)
    await wait_until(lambda: seen == ["delivery-1"], what="first task")
    await wait_until(lambda: _table_empty(database), what="first task deleted")

    # When a task is published in this process
    await broker.publish(task(2))

    # Then it is handled long before the next poll would find it
    await wait_until(lambda: seen == ["delivery-1", "delivery-2"], within=2, what="woken")
    await database.close()


async def test_unreachable_postgres_is_broker_unavailable() -> None:
    database = Database("postgresql://postgres@127.0.0.1:1/nowhere")
    broker = DatabaseBroker(database)
    with pytest.raises(BrokerUnavailable, match="publishing failed"):
        await broker.publish(task(1))
    with pytest.raises(BrokerUnavailable):
        await broker.start()
    assert await broker.ping() is False
    await database.close()


async def test_unopenable_sqlite_file_is_broker_unavailable(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}")  # a directory, not a database file
    broker = DatabaseBroker(database)
    with pytest.raises(BrokerUnavailable):
        await broker.start()
    assert await broker.ping() is False
    await database.close()


async def test_destination_longer_than_the_column_is_refused(dbqueue_backend: Backend) -> None:
    broker = await dbqueue_backend.broker()
    with pytest.raises(ValueError, match="destination"):
        await broker.publish(task(1, destination="x" * 65))


async def _table_empty(database: Database) -> bool:
    async with database.session() as session:
        return (await session.execute(select(QueueEntryRow.id))).first() is None


async def _lease_until(database: Database) -> datetime | None:
    async with database.session() as session:
        row = (await session.execute(select(QueueEntryRow.lease_until))).first()
    return None if row is None else row.lease_until


@pytest.mark.postgres
async def test_consumer_carries_on_after_postgres_drops_its_connections() -> None:
    with require_postgres() as url:
        create_tables(url)
        backend = Backend("postgres", url)
        try:
            await _consume_across_a_connection_drop(backend)
        finally:
            await backend.aclose()


async def _consume_across_a_connection_drop(backend: Backend) -> None:
    # Given a consumer that handled a task
    broker = await backend.broker()
    seen: list[str] = []

    async def keep(delivery: DeliveryTask) -> None:
        seen.append(delivery.delivery_id)

    await broker.consume("treserva", keep)
    await broker.publish(task(1))
    await wait_until(lambda: seen == ["delivery-1"], what="before")

    # When the server terminates every connection to the database (failover, restart)
    await asyncio.to_thread(_terminate_connections, backend.url)

    # Then publishing and consuming go on (the pool reconnects; a failed claim is retried)
    async def published() -> bool:
        try:
            await broker.publish(task(2))
        except BrokerUnavailable:
            return False
        return True

    await wait_until(published, what="publish after the drop")
    await wait_until(lambda: "delivery-2" in seen, what="consumed after the drop")


def _terminate_connections(url: str) -> None:
    database = make_url(url).database
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
