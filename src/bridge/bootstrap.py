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
from bridge.connectors.mllp import MllpConnector
from bridge.connectors.port import Connector
from bridge.domain.hl7.ack import AckIdentity
from bridge.domain.hl7.ack_policy import AckContext
from bridge.domain.model import EventCode
from bridge.domain.orders import OrderDeadlinePolicy
from bridge.domain.routing import RetrySettings, RoutingTable
from bridge.routing_file import load_routing
from bridge.service.care.content_checks import ContentChecks
from bridge.service.care.deviations import DeadlineMonitor, Deviations, load_rule_book
from bridge.service.care.indicators import Indicators
from bridge.service.care.orders import OrderReminders, order_indicators
from bridge.service.care.reported_deviations import ReportedDeviations
from bridge.service.care.worklist import Worklist, load_organisations
from bridge.service.clock import Clock, SystemClock
from bridge.service.delivery.accept import Acceptor, AcceptResult, AcceptStatus, Inbound
from bridge.service.delivery.application_acks import ApplicationAcks
from bridge.service.delivery.backoff import RetryPolicy, policy_for, probe_cap
from bridge.service.delivery.dead_letters import DeadLetters
from bridge.service.delivery.deliver import DeliveryWorker
from bridge.service.delivery.destination_health import DestinationHealth
from bridge.service.delivery.outbound import HL7_V2, OutboundEncoder
from bridge.service.delivery.pauses import DestinationPauses
from bridge.service.delivery.receipts import Receipts, receipt_timeout_for
from bridge.service.delivery.relay import Relay, TaskSink
from bridge.service.delivery.reprocess import Reprocessor
from bridge.service.delivery.resend import Resender
from bridge.service.operations.alert_outbox import AlertDispatcher
from bridge.service.operations.alert_rules import AlertRules
from bridge.service.operations.alerts import Alerting, build_alerting
from bridge.service.operations.retention import Retention, policy_from
from bridge.store import migrate
from bridge.store.db import Database
from bridge.transport.local import LocalDispatch
from bridge.transport.port import Broker, BrokerUnavailable, Consumer, DeliveryTask
from bridge.transport.rabbitmq import RabbitBroker

log = logging.getLogger(__name__)


def build_broker(settings: Settings) -> Broker:
    """RabbitMQ when configured; otherwise the relay hands deliveries to this process's own
    workers (the outbox is the durable queue: :mod:`bridge.transport.local`)."""
    if settings.broker_url:
        return RabbitBroker(settings.broker_url, prefix=settings.broker_prefix)
    return LocalDispatch(concurrency=settings.delivery_concurrency)


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
        self.db = Database.for_settings(settings)
        self.alerting: Alerting = alerting or build_alerting(settings, self.db, self.clock)
        self.routing = load_routing(settings)
        self.ack_context = AckContext(
            AckIdentity(settings.hl7_application, settings.hl7_facility), self.routing
        )
        self.broker = broker or build_broker(settings)
        self.connectors = connectors or {
            "http": HttpConnector(settings.delivery_timeout_seconds),
            "mllp": MllpConnector(settings.delivery_timeout_seconds),
        }
        self.order_policy = OrderDeadlinePolicy(
            settings.order_answer_hours, settings.order_answer_working_days
        )
        self.acceptor = Acceptor(
            self.db,
            self.routing,
            OutboundEncoder(settings.source_name, f"{settings.public_base_url}/fhir"),
            self.clock,
            settings.patient_key,
            max_batch=settings.accept_batch_max,
            order_policy=self.order_policy,
        )
        # One breaker per destination, shared: the worker feeds it, the relay obeys it. It
        # probes at least as often as the shortest backoff cap, so a recovered destination is
        # found as soon as a notice's own retry would have found it.
        _warn_deprecated_max_attempts(settings, self.routing)
        policies = self.retry_policies()
        cap = probe_cap(settings.destination_probe_max_seconds, policies.values())
        self.health = DestinationHealth(initial=min(1.0, cap), cap=cap)
        self.relay = Relay(
            self.db,
            _sink(self.broker),
            self.clock,
            lease_seconds=settings.queue_lease_seconds,
            max_queued=settings.relay_max_queued,
            health=self.health,
            destinations=[d.name for d in self.routing.destinations],
        )
        self.application_acks = ApplicationAcks(
            self.db, self.ack_context, self.clock, timeout=settings.delivery_timeout_seconds
        )
        self.alert_dispatcher = AlertDispatcher(self.db, self.alerting, self.clock)
        self.alert_rules = AlertRules(
            self.db,
            self.alerting,
            self.clock,
            [d.name for d in self.routing.destinations],
            database_ok=self._database_ok,
            broker_ok=self._broker_ok,
            failing_after=settings.alert_destination_failing_seconds,
            unreachable_after=settings.alert_unreachable_seconds,
            repeat_every=settings.alert_repeat_seconds,
            quiet_for=settings.alert_dead_letter_quiet_seconds,
        )
        self.worker = DeliveryWorker(
            self.db,
            self.routing,
            self.connectors,
            self.clock,
            policies,
            lease_seconds=settings.lease_seconds,
            receipt_timeouts={
                d.name: receipt_timeout_for(d, settings.receipt_timeout_seconds)
                for d in self.routing.destinations
            },
            on_settled=self._delivery_settled,
            on_alert=self.alert_dispatcher.wakeup.set,
            health=self.health,
        )
        self.dead_letters = DeadLetters(self.db, self.clock, on_replayed=self.relay.wakeup.set)
        self.pauses = DestinationPauses(
            self.db,
            self.clock,
            lambda: [d.name for d in self.routing.destinations],
            on_resumed=self.relay.pauses_changed,
        )
        self.resender = Resender(self.db, self.clock, on_resent=self.relay.wakeup.set)
        self.reprocessor = Reprocessor(
            self.db,
            self.routing,
            OutboundEncoder(settings.source_name, f"{settings.public_base_url}/fhir"),
            self.clock,
            on_changed=self.relay.wakeup.set,
        )
        self.receipts = Receipts(self.db, self.clock)
        self.rule_book = load_rule_book(settings.deadline_rules_file)
        self.deadlines = DeadlineMonitor(
            self.db,
            self.routing,
            self.clock,
            self.rule_book,
            source_endpoint=f"{settings.public_base_url}/fhir",
            on_alert=(self.relay.wakeup, self.alert_dispatcher.wakeup),
        )
        self.deviations = Deviations(self.db, self.clock)
        self.organisations = load_organisations(settings.care_organisations_file)
        self.worklist = Worklist(self.db, self.clock, self.rule_book, self.organisations)
        self.reported_deviations = ReportedDeviations(
            self.db,
            self.clock,
            self.routing,
            self.organisations,
            source_endpoint=f"{settings.public_base_url}/fhir",
        )
        self.indicators = Indicators(
            self.db, self.clock, self.rule_book, self.reported_deviations.entries
        )
        self.indicators.sources.append(order_indicators(self.db))
        self.content_checks = ContentChecks(self.db, self.clock, self.reported_deviations)
        self.retention = Retention(
            self.db, self.clock, policy_from(settings), watch_days=self.rule_book.watch_days
        )
        self.order_reminders = OrderReminders(
            self.db, self.clock, self.order_policy, on_alert=(self.alert_dispatcher.wakeup,)
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

    def retry_policies(self) -> dict[str, RetryPolicy]:
        """Each destination's retry policy: its routing entry over the BRIDGE_* defaults."""
        settings = self.settings
        defaults = RetrySettings(
            initial_seconds=settings.backoff_initial_seconds,
            max_seconds=settings.backoff_max_seconds,
            max_age_seconds=settings.max_age_seconds,
        )
        return {d.name: policy_for(d, defaults) for d in self.routing.destinations}

    async def start_delivery(self) -> None:
        settings = self.settings
        for destination in self.routing.destinations:
            await self.add_consumer(destination.name)
        for name, job in (
            ("relay", self.relay.run(settings.relay_interval_seconds)),
            ("receipt-watch", self.receipts.run(settings.receipt_check_interval_seconds)),
            ("alert-dispatch", self.alert_dispatcher.run(settings.alert_interval_seconds)),
            ("alert-rules", self.alert_rules.run(settings.alert_check_interval_seconds)),
            ("deadline-check", self.deadlines.run(settings.deadline_check_interval_seconds)),
            ("content-check", self.content_checks.run(settings.deadline_check_interval_seconds)),
            ("order-reminders", self.order_reminders.run(settings.order_check_interval_seconds)),
            (
                "application-acks",
                self.application_acks.run(settings.application_ack_interval_seconds),
            ),
        ):
            self._tasks.append(asyncio.create_task(job, name=name))
        if settings.retention_interval_seconds > 0:
            job = self.retention.run(settings.retention_interval_seconds)
            self._tasks.append(asyncio.create_task(job, name="retention"))

    async def add_consumer(self, destination: str) -> None:
        """Deliver ``destination``'s tasks (at start, or when a reloaded routing adds it)."""
        self._consumers.append(
            await self.broker.consume(
                destination, self.worker.handle, prefetch=self.settings.delivery_concurrency
            )
        )

    def _delivery_settled(self) -> None:
        """After each delivery attempt: the relay may release the patient's next notice, and an
        application ACK waiting on this delivery may now be due (docs/hl7-conformance.md)."""
        self.relay.wakeup.set()
        if self.application_acks.maybe_waiting:
            self.application_acks.wakeup.set()

    async def accept(self, inbound: Inbound) -> AcceptResult:
        result = await self.acceptor.accept(inbound)
        if result.status is AcceptStatus.ACCEPTED:
            self.relay.wakeup.set()
            if result.event is not None and result.event.event is EventCode.RECEIPT:
                self.application_acks.wakeup.set()  # a receipt may settle a waiting one
        if inbound.content_type == HL7_V2:
            # Enhanced mode (MSH-16): the application ACK owed to the sender, if it asks for one.
            await self.application_acks.request(inbound.body, result)
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
        await self.acceptor.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        await self.broker.close()
        await self.worker.close()
        for connector in self.connectors.values():
            await connector.close()
        await self.db.close()


def _warn_deprecated_max_attempts(settings: Settings, routing: RoutingTable) -> None:
    """BRIDGE_MAX_ATTEMPTS and ``retry.max_attempts`` once ended retries; now only the maximum
    age does. They still parse (older files and environments start), and say they are ignored."""
    named = [d.name for d in routing.destinations if d.retry.max_attempts is not None]
    if settings.max_attempts is not None:
        named.insert(0, "BRIDGE_MAX_ATTEMPTS")
    if named:
        log.warning(
            "max_attempts is deprecated and ignored (%s): transient failures are retried until "
            "the maximum age (BRIDGE_MAX_AGE_SECONDS / retry.max_age_seconds)",
            ", ".join(named),
        )


class _BrokerSink:
    """The relay's view of a broker: publish, and no room limit of its own (the relay bounds
    what waits in a broker by counting queued rows)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def room(self) -> int | None:
        return None

    async def publish(self, task: DeliveryTask) -> None:
        await self._broker.publish(task)


def _sink(broker: Broker) -> TaskSink:
    return broker if isinstance(broker, LocalDispatch) else _BrokerSink(broker)
