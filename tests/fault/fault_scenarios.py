"""The fault scenarios of issue 4, and how one is run from start to verdict.

Every scenario runs two bridge processes on one fresh PostgreSQL database and one RabbitMQ
(random queue prefix), the Treserva simulator, and a sender playing TakeCare over MLLP. The
fault starts once 30 % of the notices are accepted, lasts its time, and ends; the sender goes on
until every notice is accepted; then the system drains and every notice is classified.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from fault_load import Sender, workload
from fault_services import (
    PostgresCluster,
    rabbit_close_connections_of,
    rabbit_kill,
    rabbit_reachable,
    rabbit_restart_after_kill,
    rabbit_start_app,
    rabbit_stop_app,
)
from fault_stack import FaultStack, StackConfig
from fault_verdict import OPEN, Verdict, classify
from services import (
    AMQP_URL,
    POSTGRES_URL,
    _libpq,
    delete_rabbit_entities,
    require_postgres,
    require_rabbitmq,
)
from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url

from bridge.store.db import Database
from bridge.store.tables import AlertIncidentRow, AlertOutboxRow, DeliveryRow


@dataclass(frozen=True)
class Scale:
    """How big: notices per scenario, their rate, and how long faults last."""

    size: int
    rate: float
    fault_seconds: float
    outage_seconds: float  # "Treserva down for a minute"
    drain_seconds: float
    receipt_timeout: float
    # Issue 13: Treserva down for "an hour" (time_scale: how many real seconds stand for one
    # second of the default policy; 1 = real time) and for five minutes, default policy.
    hour_outage_seconds: float = 3600
    time_scale: float = 1.0
    five_minute_outage_seconds: float = 300


FULL = Scale(
    size=2000, rate=30, fault_seconds=10, outage_seconds=60, drain_seconds=600, receipt_timeout=120
)
CI = Scale(
    size=160,
    rate=40,
    fault_seconds=3,
    outage_seconds=8,
    drain_seconds=120,
    receipt_timeout=15,
    hour_outage_seconds=60,  # the hour at 1:60: backoff cap 1 s, maximum age 24 min
    time_scale=1 / 60,
    five_minute_outage_seconds=120,
)

Inject = Callable[[FaultStack, Scale], Awaitable[bool]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    inject: Inject
    repeat_share: float = 0.0
    expect_unreceipted: bool = False
    # Issue 13: the stack's retry policy for this scale, and one destination-failing incident
    # opened and resolved per outage.
    policy: Callable[[Scale], StackConfig] | None = None
    expect_incident: bool = False


async def _nothing(stack: FaultStack, scale: Scale) -> bool:
    return False


async def _rabbit_stop_start(stack: FaultStack, scale: Scale) -> bool:
    await rabbit_stop_app()
    await asyncio.sleep(scale.fault_seconds)
    await rabbit_start_app()
    return True


async def _rabbit_kill(stack: FaultStack, scale: Scale) -> bool:
    await rabbit_kill()
    await asyncio.sleep(scale.fault_seconds)
    await rabbit_restart_after_kill()
    return True


async def _bridge_kill(stack: FaultStack, scale: Scale) -> bool:
    await stack.kill_bridge(0)
    await asyncio.sleep(scale.fault_seconds)
    await stack.start_bridge(0)
    return True


async def _postgres_restart(stack: FaultStack, scale: Scale) -> bool:
    cluster = PostgresCluster()
    await cluster.stop_immediate()
    await asyncio.sleep(min(scale.fault_seconds, 5))
    await cluster.start()
    return True


def _treserva(on: dict[str, object], off: dict[str, object]) -> Inject:
    """Set the simulator's faults ``on`` for the fault's time, then ``off``."""

    async def inject(stack: FaultStack, scale: Scale) -> bool:
        await stack.sim_faults(**on)
        await asyncio.sleep(scale.fault_seconds)
        await stack.sim_faults(**off)
        return True

    return inject


async def _treserva_down(stack: FaultStack, scale: Scale) -> bool:
    await stack.kill_sim()
    await asyncio.sleep(scale.outage_seconds)
    await stack.start_sim()
    return True


def _treserva_down_for(seconds: Callable[[Scale], float]) -> Inject:
    async def inject(stack: FaultStack, scale: Scale) -> bool:
        await stack.kill_sim()
        await asyncio.sleep(seconds(scale))
        await stack.start_sim()
        return True

    return inject


def default_policy(scale: Scale) -> StackConfig:
    """The retry and alert defaults (backoff 1 s doubling to 60 s, maximum age 24 h, breaker
    probes at most 30 s apart, destination-failing after 30 s), with time compressed by
    ``scale.time_scale`` (1: exactly the defaults). Alert rules are checked every 2 s."""
    k = scale.time_scale
    return StackConfig(
        backoff_initial=1.0 * k,
        backoff_max=60.0 * k,
        receipt_timeout=max(scale.receipt_timeout, 60.0),
        extra_env=(
            ("BRIDGE_MAX_AGE_SECONDS", str(86_400 * k)),
            ("BRIDGE_DESTINATION_PROBE_MAX_SECONDS", str(30.0 * k)),
            ("BRIDGE_ALERT_DESTINATION_FAILING_SECONDS", "30"),
            ("BRIDGE_ALERT_CHECK_INTERVAL_SECONDS", "2"),
        ),
    )


def unscaled_default_policy(scale: Scale) -> StackConfig:
    return default_policy(dataclasses.replace(scale, time_scale=1.0))


async def _broker_closes(stack: FaultStack, scale: Scale) -> bool:
    for _ in range(3):
        closed = await rabbit_close_connections_of(stack.bridge_pids())
        if not closed:
            raise RuntimeError("found no AMQP connection of the bridge processes to close")
        await asyncio.sleep(scale.fault_seconds / 3)
    return True


SCENARIOS = (
    Scenario("baseline", "no fault (two bridge processes)", _nothing),
    Scenario("rabbitmq-stop-start", "rabbitmqctl stop_app, start_app", _rabbit_stop_start),
    Scenario("rabbitmq-sigkill", "RabbitMQ VM killed (SIGKILL), restarted", _rabbit_kill),
    Scenario("broker-closes-conns", "broker closes the bridges' connections x3", _broker_closes),
    Scenario("bridge-sigkill", "one of two bridges SIGKILLed, restarted", _bridge_kill),
    Scenario("postgres-restart", "PostgreSQL stopped -m immediate, started", _postgres_restart),
    Scenario(
        "treserva-500",
        "Treserva answers 500 to everything",
        _treserva({"error_rate": 1.0}, {"error_rate": 0.0}),
    ),
    Scenario(
        "treserva-timeout",
        "Treserva hangs past the bridge's timeout",
        _treserva({"timeout": True, "hang_seconds": 30}, {"timeout": False}),
    ),
    Scenario("treserva-down", "Treserva process killed, back later", _treserva_down),
    Scenario(
        "treserva-silent-drop",
        "Treserva answers 200, files nothing, sends no receipt",
        _treserva({"silent_drop": True}, {"silent_drop": False}),
        expect_unreceipted=True,
    ),
    Scenario("sender-repeats-5pct", "the sender repeats 5 % of its messages", _nothing, 0.05),
    Scenario(
        "treserva-down-1h",
        "Treserva down an hour (CI: 60 s at 1:60 time, cap 1 s, max age 24 min)",
        _treserva_down_for(lambda scale: scale.hour_outage_seconds),
        policy=default_policy,
        expect_incident=True,
    ),
    Scenario(
        "treserva-down-5min",
        "Treserva down 5 min (CI: 2 min), the default retry policy",
        _treserva_down_for(lambda scale: scale.five_minute_outage_seconds),
        policy=unscaled_default_policy,
        expect_incident=True,
    ),
)
"""Scenarios that stop only the Treserva simulator, never the shared RabbitMQ or PostgreSQL."""
DESTINATION_ONLY = ("treserva-down-1h", "treserva-down-5min")


def by_name(names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    return [known[n] for n in names]


@contextlib.contextmanager
def _fresh_services() -> Iterator[tuple[str, str]]:
    """A fresh database and queue prefix; FAULT_KEEP=1 keeps the database to look into."""
    prefix = f"fault-{uuid.uuid4().hex[:8]}"
    require_rabbitmq()
    keep = os.environ.get("FAULT_KEEP") == "1"
    with contextlib.ExitStack() as stack:
        if keep:
            database_url = _kept_database(prefix)
            print(f"   keeping database {database_url}")
        else:
            database_url = stack.enter_context(require_postgres())
        try:
            yield database_url, prefix
        finally:
            with contextlib.suppress(Exception):
                delete_rabbit_entities(prefix)


def _kept_database(prefix: str) -> str:
    name = prefix.replace("-", "_")
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def _restore_services() -> None:
    """Whatever a scenario did, leave RabbitMQ and PostgreSQL running for the next one."""
    if not await asyncio.to_thread(rabbit_reachable):
        with contextlib.suppress(Exception):
            await rabbit_start_app()
        if not await asyncio.to_thread(rabbit_reachable):
            await rabbit_restart_after_kill()
    with contextlib.suppress(Exception):
        await PostgresCluster().start()


LOCK = Path(tempfile.gettempdir()) / "bridge-fault-suite.lock"


@contextlib.asynccontextmanager
async def _alone() -> AsyncIterator[None]:
    """One fault scenario at a time on this machine: two would break each other's services."""
    with LOCK.open("w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def run_scenario(
    scenario: Scenario, scale: Scale, run_dir: Path, config: StackConfig | None = None
) -> Verdict:
    async with _alone():
        return await _run_scenario(scenario, scale, run_dir, config)


async def _run_scenario(
    scenario: Scenario, scale: Scale, run_dir: Path, config: StackConfig | None
) -> Verdict:
    started = time.monotonic()
    run_dir = run_dir / scenario.name
    run_dir.mkdir(parents=True, exist_ok=True)
    with _fresh_services() as (database_url, prefix):
        if config is None and scenario.policy is not None:
            config = scenario.policy(scale)
        config = config or StackConfig(receipt_timeout=scale.receipt_timeout)
        stack = FaultStack(run_dir, database_url, AMQP_URL, prefix, config)
        db = Database(database_url)
        try:
            await stack.start()
            verdict = await _drive(scenario, scale, stack, db, prefix)
        finally:
            await stack.stop()
            await db.close()
            await _restore_services()
    verdict.seconds = time.monotonic() - started
    return verdict


async def _drive(
    scenario: Scenario, scale: Scale, stack: FaultStack, db: Database, run: str
) -> Verdict:
    sender = Sender(
        stack.mllp_ports,
        scale.rate,
        repeat_share=scenario.repeat_share,
        milestone=int(0.3 * scale.size),
    )
    sending = asyncio.create_task(sender.run(workload(run, scale.size)))
    reached = asyncio.create_task(sender.reached.wait())
    await asyncio.wait((sending, reached), return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    fault_ended_at = time.time() if await scenario.inject(stack, scale) else None
    record = await sending
    await _drain(stack, db, scale.drain_seconds)
    if scenario.expect_incident:
        await _incidents_settled(db, within=60)
    inbox = await stack.inbox()
    stats = await stack.sim_stats()
    verdict = await classify(scenario.name, record, inbox, db, fault_ended_at)
    verdict.redelivered = stats.get("duplicates", 0)
    verdict.dropped_by_treserva = stats.get("dropped", 0)
    verdict.expect_unreceipted = scenario.expect_unreceipted
    verdict.notes.append(f"sender answers {record.answers}, resends {record.resends}")
    if scenario.repeat_share:
        verdict.notes.append(f"repeats {record.repeats}, acknowledged AA {record.repeats_acked}")
    return verdict


async def _incidents_settled(db: Database, within: float) -> None:
    """Until every destination-failing incident has its recovery sent (the rules resolve it
    on their next check after the first success)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    open_or_unsent = select(func.count()).where(
        AlertIncidentRow.key.startswith("destination-failing:"),
        or_(AlertIncidentRow.resolved_at.is_(None), AlertIncidentRow.recovery_sent_at.is_(None)),
    )
    while loop.time() < deadline:
        with contextlib.suppress(Exception):
            async with db.session() as session:
                if await session.scalar(open_or_unsent) == 0:
                    return
        await asyncio.sleep(0.5)


async def _drain(stack: FaultStack, db: Database, within: float) -> None:
    """Until nothing is left to deliver, to receipt or to alert (or ``within`` runs out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    busy = select(func.count()).where(
        or_(DeliveryRow.status.in_(OPEN), DeliveryRow.receipt_state == "awaiting")
    )
    unsent = select(func.count()).where(AlertOutboxRow.sent_at.is_(None))
    while loop.time() < deadline:
        with contextlib.suppress(Exception):
            async with db.session() as session:
                open_rows = await session.scalar(busy)
                alerts = await session.scalar(unsent)
            echo_idle = stack.echo is None or stack.echo.idle
            if open_rows == 0 and alerts == 0 and echo_idle:
                return
        await asyncio.sleep(0.5)
