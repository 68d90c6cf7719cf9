"""The real services integration tests run against: skip on a laptop without them, fail in CI.

Also the helpers to use them: a :class:`Backend` per broker adapter, :func:`wait_until`.

Addresses come from the environment, with the local defaults:
- ``BRIDGE_TEST_AMQP_URL`` (``amqp://guest:guest@127.0.0.1:5672/``)
- ``BRIDGE_TEST_POSTGRES_URL`` (``postgresql://postgres@127.0.0.1:5432/postgres``), a role that
  may create databases
- ``BRIDGE_TEST_RABBITMQCTL`` (``rabbitmqctl``), e.g. ``docker exec rabbitmq rabbitmqctl`` when
  the broker runs in a container; fault tests use it to close connections.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import pika
import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bridge.store.db import sync_url
from bridge.store.tables import Base
from bridge.transport.port import Broker, DeliveryTask
from bridge.transport.rabbitmq import RabbitBroker

# Production-mode tests (a PostgreSQL URL) send without credentials, which a production bridge
# refuses unless told otherwise (docs/security.md); every such test gets its database here.
# Tests of inbound identity configure authentication or set the opt-out false themselves.
os.environ.setdefault("BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION", "true")

AMQP_URL = os.environ.get("BRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get(
    "BRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQCTL = shlex.split(os.environ.get("BRIDGE_TEST_RABBITMQCTL", "rabbitmqctl"))

# Outside the embedded SQLite demo the bridge refuses to start without these secrets
# (docs/security.md). Every test on PostgreSQL comes through this module, so the in-process
# bridges and the `bridge` subprocesses (which inherit the environment) get test-only values;
# a test of the refusal removes them with ``monkeypatch.delenv``.
TEST_PATIENT_KEY_SECRET = "test-only-pseudonym-key-not-for-production"
TEST_AUDIT_KEY = "test-only-audit-key-not-for-production"
os.environ.setdefault("BRIDGE_PATIENT_KEY_SECRET", TEST_PATIENT_KEY_SECRET)
os.environ.setdefault("BRIDGE_AUDIT_KEY", TEST_AUDIT_KEY)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(service: str, reason: str) -> NoReturn:
    """In CI a missing service is a failure (tests must not silently not run); else a skip."""
    message = f"{service} is not available: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this fails instead of skipping)")
    pytest.skip(f"{message}; start it to run this test")


def require_rabbitmq() -> str:
    """The AMQP URL of a broker that completed a handshake just now."""
    parameters = pika.URLParameters(AMQP_URL)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 2
    parameters.blocked_connection_timeout = 2
    try:
        pika.BlockingConnection(parameters).close()
    except Exception as exc:
        unavailable(f"RabbitMQ at {_safe(AMQP_URL)}", repr(exc))
    return AMQP_URL


@contextmanager
def require_postgres() -> Iterator[str]:
    """A URL to a fresh, randomly named PostgreSQL database, dropped afterwards."""
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
            name = f"bridge_test_{uuid.uuid4().hex[:12]}"
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {_safe(POSTGRES_URL)}", str(exc).strip())
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbitmqctl(*arguments: str) -> str:
    """Run rabbitmqctl (fault tests need it); skip or fail when it is not installed."""
    if shutil.which(RABBITMQCTL[0]) is None:
        unavailable(
            "rabbitmqctl", f"{RABBITMQCTL[0]!r} is not on PATH (set BRIDGE_TEST_RABBITMQCTL)"
        )
    completed = subprocess.run(
        [*RABBITMQCTL, *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} failed: {completed.stderr}")
    return completed.stdout


def rabbitmqctl_json(*arguments: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(rabbitmqctl(*arguments, "--formatter", "json"))
    return rows


def close_rabbit_connection(connection_name: str) -> int:
    """Have the broker close every connection with this client-given name (like a restart)."""
    # The table output, not JSON: JSON prints pids as "#PID<1.2.3>", close_connection wants
    # "<rabbit@host.1.2.3>".
    listing = rabbitmqctl(
        "list_connections", "pid", "client_properties", "-q", "--no-table-headers"
    )
    marker = f'{{"connection_name","{connection_name}"}}'
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if marker in line]
    for pid in pids:
        rabbitmqctl("close_connection", pid, "test: simulated broker failure")
    return len(pids)


def delete_rabbit_entities(prefix: str) -> None:
    """Delete the queues and exchanges a test created (all named with its random prefix)."""
    if shutil.which(RABBITMQCTL[0]) is None:
        return
    with ThreadPoolExecutor(2) as pool:  # two rabbitmqctl runs at once: half the wait
        listed = pool.map(
            lambda what: rabbitmqctl_json(what, "name"), ["list_queues", "list_exchanges"]
        )
        queues, exchanges = ([row["name"] for row in rows] for rows in listed)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for name in queues:
            if name.startswith(prefix):
                channel.queue_delete(name)
        for name in exchanges:
            if name.startswith(prefix):
                channel.exchange_delete(name)
    finally:
        connection.close()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


REDELIVERY_DELAY = 0.2
Kind = Literal["rabbitmq"]


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 10, what: str = ""
) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what or condition}")
        await asyncio.sleep(0.02)


def task(number: int, destination: str = "treserva") -> DeliveryTask:
    return DeliveryTask(
        delivery_id=f"delivery-{number}",
        destination=destination,
        idempotency_key=f"key-{number}",
        correlation_id=f"corr-{number}",
    )


def create_tables(url: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


# A consumer process that takes one task and then hangs, to be killed with SIGKILL.
HOLDER = """
import asyncio, sys
from bridge.transport.rabbitmq import RabbitBroker

async def main(kind, url, prefix, destination):
    broker = RabbitBroker(url, prefix=prefix)
    await broker.start()

    async def hold(task):
        print("holding", task.delivery_id, flush=True)
        await asyncio.Event().wait()

    await broker.consume(destination, hold, prefetch=1)
    print("consuming", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


@dataclass
class Backend:
    """One real broker backing: brokers made here share it, like processes sharing a service."""

    kind: Kind
    url: str
    prefix: str = ""
    _brokers: list[Broker] = field(default_factory=list)

    async def broker(self) -> Broker:
        """A started broker; each has its own connection, as a separate process would."""
        broker = RabbitBroker(
            self.url,
            prefix=self.prefix,
            confirm_timeout=5,
            connect_timeout=5,
            reconnect_interval=0.5,
            redelivery_delay=REDELIVERY_DELAY,
        )
        await broker.start()
        self._brokers.append(broker)
        return broker

    async def spawn_holder(self, destination: str) -> asyncio.subprocess.Process:
        """Start a consumer process that holds the first task it gets and never finishes."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLDER,
            self.kind,
            self.url,
            self.prefix or "-",
            destination,
            stdout=asyncio.subprocess.PIPE,
        )

    async def aclose(self) -> None:
        for broker in self._brokers:
            await broker.close()
