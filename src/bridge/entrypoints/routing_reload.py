"""Reload the routing file while serving: on SIGHUP, or when ``bridge routes reload`` asks.

``bridge routes reload`` validates the file itself first (refusing a wrong one before anything
happens) and then writes a request row (``routing_reloads``); every ``bridge serve`` process
polls for a request newer than the last it saw and reloads *its own* file, so all replicas
follow, whichever host the command ran on. SIGHUP reloads the one process it is sent to.

A reload parses and validates the whole file first; a wrong one is refused whole (the running
table stays), logged and audited with the reasons. A good one is applied atomically: the new
queues are declared first, then every component switches to the new table in one synchronous
step (no ``await`` between, so no message sees half of each). Destinations that appear get
their consumers; a destination that disappears keeps its waiting deliveries in the outbox (they
go when it comes back in a later file). Both outcomes are audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select

from bridge.domain.hl7.ack_policy import AckContext
from bridge.routing_file import RoutingFileError, parse_routing_file
from bridge.service.delivery.backoff import probe_cap
from bridge.service.delivery.receipts import receipt_timeout_for
from bridge.service.operations import audit
from bridge.store.db import Database
from bridge.store.tables import RoutingReloadRow

if TYPE_CHECKING:
    from datetime import datetime

    from bridge.bootstrap import Bridge

from bridge.domain.routing import RoutingTable

log = logging.getLogger(__name__)


class ReloadRefused(Exception):
    """The routing file could not be reloaded; the running table is kept."""


async def request_reload(db: Database, *, actor: str, at: datetime) -> int:
    """Ask every serve process to reload its routing file; returns the request's number."""
    async with db.session() as session, session.begin():
        number = await session.scalar(
            insert(RoutingReloadRow)
            .values(requested_at=at, requested_by=actor)
            .returning(RoutingReloadRow.id)
        )
        audit.record(session, at=at, action="routing_reload_requested", actor=actor)
    return int(number or 0)


async def latest_request(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.max(RoutingReloadRow.id))) or 0)


class RoutingReloader:
    """Reloads one bridge's routing table, on demand or when a newer request appears."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._seen = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Requests made before this process started are already in the file it read."""
        self._seen = await latest_request(self._bridge.db)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                latest = await latest_request(self._bridge.db)
            except Exception as error:
                log.warning("routing reload poll failed: %s", type(error).__name__)
                continue
            if latest > self._seen:
                self._seen = latest
                with contextlib.suppress(ReloadRefused):
                    await self.reload(actor="bridge routes reload")

    async def reload(self, *, actor: str) -> RoutingTable:
        """Read, validate and apply the routing file; raises :class:`ReloadRefused`."""
        async with self._lock:
            bridge = self._bridge
            path = bridge.settings.routing_file
            try:
                if path is None:
                    raise ReloadRefused("no routing file is set (BRIDGE_ROUTING_FILE)")
                try:
                    table = await asyncio.to_thread(parse_routing_file, path)
                except RoutingFileError as error:
                    raise ReloadRefused(str(error)) from None
                for destination in table.destinations:
                    await bridge.broker.declare(destination.name)
            except ReloadRefused as refused:
                log.error("routing file reload refused, the running routes stay: %s", refused)
                await self._audit("routing_reload_refused", actor, reason=str(refused)[:2000])
                raise
            before = {d.name for d in bridge.routing.destinations}
            apply_routing(bridge, table)
            added = sorted({d.name for d in table.destinations} - before)
            for name in added:
                await bridge.add_consumer(name)
            log.warning(
                "routing file %s reloaded: %d destinations, %d routes (new: %s)",
                path,
                len(table.destinations),
                len(table.routes),
                ", ".join(added) or "none",
            )
            await self._audit(
                "routing_reloaded",
                actor,
                destinations=[d.name for d in table.destinations],
                routes=len(table.routes),
            )
            return table

    async def _audit(self, action: str, actor: str, **detail: object) -> None:
        try:
            async with self._bridge.db.session() as session, session.begin():
                audit.record(
                    session,
                    at=self._bridge.clock.now(),
                    action=action,
                    actor=actor,
                    **detail,  # type: ignore[arg-type]
                )
        except Exception:
            log.exception("could not audit %s", action)


def apply_routing(bridge: Bridge, table: RoutingTable) -> None:
    """Switch every component to ``table`` in one synchronous step (atomic in the event loop)."""
    settings = bridge.settings
    bridge.routing = table
    policies = bridge.retry_policies()
    bridge.ack_context = AckContext(bridge.ack_context.identity, table)
    bridge.acceptor.use_routing(table)
    bridge.application_acks.use_context(bridge.ack_context)
    bridge.deadlines.use_routing(table)
    bridge.worker.use_routing(
        table,
        policies,
        {
            d.name: receipt_timeout_for(d, settings.receipt_timeout_seconds)
            for d in table.destinations
        },
    )
    names = [d.name for d in table.destinations]
    bridge.relay.use_destinations(names)
    bridge.alert_rules.use_destinations(names)
    bridge.health.use_cap(probe_cap(settings.destination_probe_max_seconds, policies.values()))
    bridge.relay.wakeup.set()


@contextlib.asynccontextmanager
async def reloading(bridge: Bridge) -> AsyncIterator[RoutingReloader]:
    """While serving: reload on SIGHUP and on ``bridge routes reload`` requests."""
    reloader = RoutingReloader(bridge)
    await reloader.start()
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    def on_hangup() -> None:
        task = asyncio.create_task(_quietly(reloader.reload(actor="SIGHUP")))
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    polling = asyncio.create_task(
        reloader.run(bridge.settings.routing_reload_poll_seconds), name="routing-reload"
    )
    try:
        yield reloader
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        polling.cancel()
        await asyncio.gather(polling, *pending, return_exceptions=True)


async def _quietly(reload: Awaitable[RoutingTable]) -> object:
    with contextlib.suppress(ReloadRefused):
        return await reload
    return None
