"""Real faults on the real services: RabbitMQ, PostgreSQL and processes this suite started.

RabbitMQ and PostgreSQL are the machine's own (see tests/integration/services.py); the suite
stops, kills and restarts them for real. Processes are only ever signalled by the id of a
process this suite started, or, for RabbitMQ's SIGKILL, by the id the broker reports itself.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pika
from services import AMQP_URL, RABBITMQCTL, rabbitmqctl


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_STARTED: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    """An interrupted run must not leave its bridges and simulator behind (by pid, ours only)."""
    for pid in list(_STARTED):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class ManagedProcess:
    """A child process with its output in a log file; signalled only by its own pid."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        _STARTED.add(self.process.pid)
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signum)
        await self.process.wait()
        _STARTED.discard(self.process.pid)

    async def stop(self, grace: float = 10) -> None:
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            await self.kill()
        _STARTED.discard(self.process.pid)


# RabbitMQ ------------------------------------------------------------------------------------


logging.getLogger("pika").setLevel(logging.CRITICAL)  # a refused probe is expected here


def rabbit_reachable() -> bool:
    parameters = pika.URLParameters(AMQP_URL)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 2
    try:
        pika.BlockingConnection(parameters).close()
    except Exception:
        return False
    return True


async def wait_for(check: object, within: float, what: str) -> None:
    """Poll a blocking ``check()`` in a thread until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(check):  # type: ignore[arg-type]
        if loop.time() > deadline:
            raise RuntimeError(f"{what}: not within {within} s")
        await asyncio.sleep(0.5)


async def rabbit_stop_app() -> None:
    await asyncio.to_thread(rabbitmqctl, "stop_app")


async def rabbit_start_app() -> None:
    await asyncio.to_thread(rabbitmqctl, "start_app")
    await wait_for(rabbit_reachable, 120, "RabbitMQ accepting connections after start_app")


async def rabbit_kill() -> None:
    """SIGKILL the broker's Erlang VM, by the OS pid the broker itself reports."""
    output = await asyncio.to_thread(rabbitmqctl, "eval", "os:getpid().")
    pid = int(re.sub(r"\D", "", output))
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: not rabbit_reachable(), 30, "RabbitMQ gone after SIGKILL")


async def rabbit_restart_after_kill() -> None:
    server = shutil.which("rabbitmq-server")
    if server is None or len(RABBITMQCTL) != 1:
        raise RuntimeError("restarting a killed RabbitMQ needs rabbitmq-server on this machine")
    await asyncio.to_thread(
        subprocess.run, [server, "-detached"], check=False, capture_output=True, timeout=60
    )
    # Not `rabbitmqctl await_startup`: it fails at once while the new node is not yet registered.
    await wait_for(rabbit_reachable, 180, "RabbitMQ accepting connections after restart")


async def rabbit_close_connections_of(pids: set[int]) -> int:
    """Have the broker close every AMQP connection of these processes; returns how many."""
    ports = await asyncio.to_thread(_local_amqp_ports, pids)
    listing = await asyncio.to_thread(
        rabbitmqctl, "list_connections", "pid", "peer_port", "-q", "--no-table-headers"
    )
    closed = 0
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1].strip().isdigit() and int(parts[1]) in ports:
            await asyncio.to_thread(
                rabbitmqctl, "close_connection", parts[0], "fault suite: broker closes"
            )
            closed += 1
    return closed


def _local_amqp_ports(pids: set[int]) -> set[int]:
    amqp_port = pika.URLParameters(AMQP_URL).port
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( dport = :{amqp_port} )"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    ports: set[int] = set()
    for line in out.splitlines():
        found = re.findall(r"pid=(\d+)", line)
        if not any(int(pid) in pids for pid in found):
            continue
        local = line.split()[2]  # Recv-Q Send-Q Local:Port Peer:Port Process
        ports.add(int(local.rsplit(":", 1)[1]))
    return ports


# PostgreSQL ----------------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    """The local cluster, restarted with pg_ctlcluster (immediate mode: a crash, no checkpoint)."""

    version: str = field(default_factory=lambda: sorted(os.listdir("/etc/postgresql"))[-1])

    def _ctl(self, *arguments: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, "main", *arguments],
            check=True,
            capture_output=True,
            timeout=120,
        )

    async def stop_immediate(self) -> None:
        await asyncio.to_thread(self._ctl, "stop", "-m", "immediate")

    async def start(self) -> None:
        await asyncio.to_thread(self._ctl, "start")
