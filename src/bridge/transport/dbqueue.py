"""The embedded broker: a durable queue in the ``queue_entries`` table of the bridge's database.

Used when no RabbitMQ is configured, so ``bridge demo`` needs nothing but the SQLite file.
A task is a row; a consumer claims one row at a time by taking a lease on it, deletes it when
the handler succeeded and releases it (a little later) when the handler failed. A row whose
lease ran out — its process died — is simply available again.

``available_at`` carries the lease: claiming sets it to the lease's end, so "ready" is always
``available_at <= now`` and the ``(destination, available_at)`` index serves every claim.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bridge.store.db import Database
from bridge.store.tables import QueueEntryRow as Entry
from bridge.transport.dbqueue_consumer import ClaimedEntry, DatabaseConsumer
from bridge.transport.port import BrokerUnavailable, Consumer, DeliveryTask, TaskHandler

# Failures that mean "the database is not there right now", as opposed to a bug in a query.
DB_FAILURES = (OperationalError, DBAPIError, PoolTimeout, OSError)
MAX_DESTINATION = 64  # queue_entries.destination is String(64)


class DatabaseBroker:
    """The broker port on the bridge's own database (SQLite by default, or PostgreSQL)."""

    name = "database"

    def __init__(
        self,
        db: Database,
        *,
        poll_interval: float = 0.2,
        lease_seconds: float = 30,
        owner: str | None = None,
        redelivery_delay: float = 1,
    ) -> None:
        self._db = db
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.redelivery_delay = redelivery_delay
        # Leaves room for "/<claim number>" within lease_owner's 64 characters.
        self.owner = (owner or _default_owner())[:48]
        self._claims = 0
        self._wakeups: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._consumers: set[DatabaseConsumer] = set()

    async def start(self) -> None:
        """Check that the queue table answers, so a wrong URL fails at start, not later."""
        async with self._calling("starting"), self._db.session() as session:
            await session.execute(select(Entry.id).limit(1))

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.cancel()

    async def declare(self, destination: str) -> None:
        """Nothing to create (one table serves every destination); only check the name fits."""
        if not destination or len(destination) > MAX_DESTINATION:
            raise ValueError(f"destination must be 1-{MAX_DESTINATION} characters: {destination!r}")

    async def publish(self, task: DeliveryTask) -> None:
        """Insert the task and return after the commit; wake this process's consumers."""
        await self.declare(task.destination)
        now = _now()
        row = {
            "destination": task.destination,
            "body": task.model_dump_json(),
            "enqueued_at": now,
            "available_at": now,
            "deliveries": 0,
        }
        async with self._calling("publishing"), self._db.session() as session, session.begin():
            await session.execute(insert(Entry).values(**row))
        for wakeup in self._wakeups[task.destination]:
            wakeup.set()

    async def consume(self, destination: str, handler: TaskHandler, prefetch: int = 8) -> Consumer:
        wakeup = asyncio.Event()
        self._wakeups[destination].add(wakeup)

        def forget(consumer: DatabaseConsumer) -> None:
            self._wakeups[destination].discard(wakeup)
            self._consumers.discard(consumer)

        consumer = DatabaseConsumer(
            queue=self,
            destination=destination,
            handler=handler,
            prefetch=prefetch,
            wakeup=wakeup,
            on_cancel=forget,
        )
        self._consumers.add(consumer)
        consumer.start()
        return consumer

    async def depth(self, destination: str) -> int:
        """Rows waiting: never claimed or released, or whose holder's lease ran out."""
        query = select(func.count()).where(
            Entry.destination == destination,
            or_(Entry.lease_owner.is_(None), Entry.available_at <= _now()),
        )
        async with self._calling("reading the depth"), self._db.session() as session:
            return int((await session.execute(query)).scalar_one())

    async def ping(self) -> bool:
        try:
            async with self._calling("ping"), self._db.session() as session:
                await session.execute(text("SELECT 1"))
        except BrokerUnavailable:
            return False
        return True

    # The consumer's side: claim, renew, settle. Each is one statement in its own transaction.

    async def claim(self, destination: str) -> ClaimedEntry | None:
        """Lease the oldest ready row of ``destination``, or None when there is none.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent claimers pass each other's row.
        SQLite ignores it, but there one UPDATE statement holds the database's single write
        lock, and ``available_at <= now`` is checked again on the row it changes.
        """
        now = _now()
        until = now + timedelta(seconds=self.lease_seconds)
        token = self._next_token()
        oldest_ready = (
            select(Entry.id)
            .where(Entry.destination == destination, Entry.available_at <= now)
            .order_by(Entry.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            update(Entry)
            .where(Entry.id == oldest_ready, Entry.available_at <= now)
            .values(
                lease_owner=token,
                lease_until=until,
                available_at=until,
                deliveries=Entry.deliveries + 1,
            )
            .returning(Entry.id, Entry.body, Entry.deliveries)
            .execution_options(synchronize_session=False)
        )
        async with self._calling("claiming"), self._db.session() as session, session.begin():
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return ClaimedEntry(id=row.id, body=row.body, deliveries=row.deliveries, token=token)

    async def renew(self, entry: ClaimedEntry) -> bool:
        """Extend a running handler's lease; False when the lease was lost to another claim."""
        until = _now() + timedelta(seconds=self.lease_seconds)
        statement = (
            update(Entry)
            .where(Entry.id == entry.id, Entry.lease_owner == entry.token)
            .values(lease_until=until, available_at=until)
            .execution_options(synchronize_session=False)
        )
        return await self._change("renewing a lease", statement)

    async def complete(self, entry: ClaimedEntry) -> None:
        """The handler succeeded: the task is done whoever holds the row now."""
        await self._change("deleting a handled task", delete(Entry).where(Entry.id == entry.id))

    async def release(self, entry: ClaimedEntry, delay: float) -> None:
        """Hand the row back, ready again after ``delay`` seconds (if we still hold it)."""
        statement = (
            update(Entry)
            .where(Entry.id == entry.id, Entry.lease_owner == entry.token)
            .values(
                lease_owner=None,
                lease_until=None,
                available_at=_now() + timedelta(seconds=delay),
            )
            .execution_options(synchronize_session=False)
        )
        await self._change("releasing a lease", statement)

    async def _change(self, what: str, statement: Any) -> bool:
        async with self._calling(what), self._db.session() as session, session.begin():
            result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    def _next_token(self) -> str:
        self._claims += 1
        return f"{self.owner}/{self._claims}"

    @asynccontextmanager
    async def _calling(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except DB_FAILURES as exc:
            raise BrokerUnavailable(f"database queue: {what} failed: {exc}") from exc


def _now() -> datetime:
    return datetime.now(UTC)


def _default_owner() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


__all__ = ["DatabaseBroker"]
