"""The composition root: builds the bridge from settings, real adapters by default.

Tests swap adapters here (a fake connector, a controllable clock), never deep inside.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from bridge.config import Settings
from bridge.connectors.http import HttpConnector
from bridge.connectors.port import Connector
from bridge.routing_file import load_routing
from bridge.service.accept import Acceptor, AcceptResult, AcceptStatus, Inbound
from bridge.service.alerts import Alerting, LogAlerting
from bridge.service.backoff import RetryPolicy
from bridge.service.clock import Clock, SystemClock
from bridge.service.deliver import DeliveryWorker
from bridge.service.outbound import OutboundEncoder
from bridge.service.relay import Relay
from bridge.store import migrate
from bridge.store.db import Database
from bridge.transport.dbqueue import DatabaseBroker
from bridge.transport.port import Broker, BrokerUnavailable, Consumer
from bridge.transport.rabbitmq import RabbitBroker

log = logging.getLogger(__name__)


def build_broker(settings: Settings, db: Database) -> Broker:
    if settings.broker_url:
        return RabbitBroker(settings.broker_url, prefix=settings.broker_prefix)
    return DatabaseBroker(db)


class Bridge:
    """One bridge process: accept, relay and deliver, on one database and one broker."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        connectors: dict[str, Connector] | None = None,
        broker: Broker | None = None,
        alerting: Alerting | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.alerting: Alerting = alerting or LogAlerting()
        self.db = Database(settings.database_url)
        self.routing = load_routing(settings)
        self.broker = broker or build_broker(settings, self.db)
        self.connectors = connectors or {"http": HttpConnector(settings.delivery_timeout_seconds)}
        self.acceptor = Acceptor(
            self.db,
            self.routing,
            OutboundEncoder(settings.source_name, f"{settings.public_base_url}/fhir"),
            self.clock,
            settings.patient_key_secret,
        )
        self.relay = Relay(self.db, self.broker, self.clock, lease_seconds=settings.lease_seconds)
        self.worker = DeliveryWorker(
            self.db,
            self.routing,
            self.connectors,
            self.clock,
            RetryPolicy(
                max_attempts=settings.max_attempts,
                initial_seconds=settings.backoff_initial_seconds,
                max_seconds=settings.backoff_max_seconds,
            ),
            lease_seconds=settings.lease_seconds,
            on_settled=self.relay.wakeup.set,
        )
        self._consumers: list[Consumer] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self, *, deliver: bool = True) -> None:
        """Migrate the database, connect the broker, start delivering."""
        await asyncio.to_thread(migrate.upgrade, self.settings.database_url)
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(30),
            wait=wait_exponential(multiplier=0.5, max=5),
            retry=retry_if_exception_type(BrokerUnavailable),
            reraise=True,
        ):
            with attempt:
                await self.broker.start()
        for destination in self.routing.destinations:
            await self.broker.declare(destination.name)
        if deliver:
            await self.start_delivery()

    async def start_delivery(self) -> None:
        for destination in self.routing.destinations:
            self._consumers.append(await self.broker.consume(destination.name, self.worker.handle))
        self._tasks.append(
            asyncio.create_task(self.relay.run(self.settings.relay_interval_seconds), name="relay")
        )

    async def accept(self, inbound: Inbound) -> AcceptResult:
        result = await self.acceptor.accept(inbound)
        if result.status is AcceptStatus.ACCEPTED:
            self.relay.wakeup.set()
        return result

    async def readiness(self) -> dict[str, bool]:
        return {"database": await self._database_ok(), "broker": await self._broker_ok()}

    async def _database_ok(self) -> bool:
        try:
            async with self.db.session() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=3)
        except Exception:
            return False
        return True

    async def _broker_ok(self) -> bool:
        try:
            return await asyncio.wait_for(self.broker.ping(), timeout=3)
        except Exception:
            return False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        await self.broker.close()
        for connector in self.connectors.values():
            await connector.close()
        await self.db.close()
