"""The system under test for bench/e2e.py: the sink and N ``bridge serve`` processes, on a
fresh SQLite file (embedded) or a fresh PostgreSQL database + a random RabbitMQ prefix
(production), and the /proc readings of them. Everything on loopback; every process is
signalled only by the id of the process started here; databases and queues are removed after.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

BENCH = Path(__file__).resolve().parent
BRIDGE = Path(sys.executable).with_name("bridge")
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


_STARTED: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    """An interrupted bench must not leave its bridges and sink behind (by pid, ours only)."""
    for pid in list(_STARTED):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds (threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def create_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def xact_commits(name: str) -> int:
    """``pg_stat_database.xact_commit`` of a database, read from the admin database (so the
    read itself is not counted), after flushing this backend's own pending statistics."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        if admin.info.server_version >= 150000:
            admin.execute("SELECT pg_stat_force_next_flush()")
        row = admin.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def delete_rabbit_entities(prefix: str) -> None:
    """Delete the queues and exchanges named with this run's prefix."""
    import pika

    names: dict[str, list[str]] = {"queues": [], "exchanges": []}
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None:
        for what in names:
            listed = subprocess.run(
                [ctl, f"list_{what}", "name", "-q", "--no-table-headers"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout
            names[what] = [n.strip() for n in listed.splitlines() if n.strip().startswith(prefix)]
    else:
        names["queues"] = [f"{prefix}.{q}" for q in ("deliver.treserva", "dead.treserva")]
        names["queues"] += [f"{prefix}.inbound", f"{prefix}.inbound.rejected"]
        names["exchanges"] = [f"{prefix}.{e}" for e in ("deliver", "dlx", "inbound")]
        names["exchanges"].append(f"{prefix}.inbound.rejected")
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for name in names["queues"]:
            channel.queue_delete(name)
        for name in names["exchanges"]:
            channel.exchange_delete(name)
    finally:
        connection.close()


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, grace: float = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        _STARTED.discard(self.pid)


def spawn(name: str, argv: list[str], env: dict[str, str], log: Path) -> Process:
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _STARTED.add(popen.pid)
    return Process(name, popen)


class Sink:
    """The HTTP sink subprocess (bench/e2e_sink.py) and its control calls."""

    def __init__(self, run_dir: Path) -> None:
        self.process = Process(
            "sink",
            subprocess.Popen(
                [sys.executable, str(BENCH / "e2e_sink.py")],
                stdout=subprocess.PIPE,
                stderr=(run_dir / "sink.log").open("ab"),
                start_new_session=True,
            ),
        )
        _STARTED.add(self.process.pid)
        assert self.process.process.stdout is not None
        self.port = int(self.process.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"
        self._client = httpx.AsyncClient(base_url=self.url, timeout=60)

    async def stats(self) -> tuple[int, int]:
        delivered, refused = (await self._client.get("/stats")).text.split()
        return int(delivered), int(refused)

    async def refuse(self, refusing: bool) -> None:
        (await self._client.post("/refuse" if refusing else "/accept")).raise_for_status()

    async def records(self) -> list[tuple[float, str, str]]:
        text = (await self._client.get("/records")).text
        rows = []
        for line in text.splitlines():
            moment, key, message_id = line.split(" ")
            rows.append((float(moment), key, message_id))
        return rows

    async def close(self) -> None:
        await self._client.aclose()
        self.process.stop(5)


@dataclass
class Stack:
    mode: str  # embedded | production
    processes: int
    run_dir: Path
    sink_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    probe: bool = True
    name: str = field(default_factory=lambda: f"e2ebench_{uuid.uuid4().hex[:10]}")
    bridges: list[Process] = field(default_factory=list)
    http_ports: list[int] = field(default_factory=list)
    mllp_ports: list[int] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        if self.mode == "embedded":
            return f"sqlite:///{self.run_dir / 'bridge.db'}"
        return pg_url(self.name)

    @property
    def inbound_exchange(self) -> str:
        return f"{self.name}.inbound"

    def env(self, number: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        env.update(
            {
                "BRIDGE_DATABASE_URL": self.database_url,
                # The bench's senders send without credentials (docs/security.md).
                "BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION": "true",
                "BRIDGE_SESSION_SECRET": "bench-only-session-key-not-for-any-real-bridge",
                "BRIDGE_HTTP_PORT": str(self.http_ports[number]),
                "BRIDGE_MLLP_PORT": str(self.mllp_ports[number]),
                "BRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.http_ports[number]}",
                "BRIDGE_TRESERVA_URL": f"{self.sink_url}/fhir",
                "BRIDGE_LOG_LEVEL": "WARNING",
                "BRIDGE_LOG_JSON": "false",
                # Production mode refuses to start without them (docs/security.md).
                "BRIDGE_PATIENT_KEY_SECRET": "bench-only-pseudonym-key",
                "BRIDGE_AUDIT_KEY": "bench-only-audit-key",
                "BENCH_COMMIT_FILE": str(self.run_dir / f"commits-{number}.txt"),
            }
        )
        if self.mode == "production":
            env.update(
                {
                    "BRIDGE_BROKER_URL": AMQP_URL,
                    "BRIDGE_BROKER_PREFIX": self.name,
                    "BRIDGE_INBOUND_EXCHANGE": self.inbound_exchange,
                    "BRIDGE_INBOUND_QUEUE": self.inbound_exchange,
                }
            )
        env.update(self.extra_env)
        return env

    async def start(self) -> None:
        if self.mode == "production":
            await asyncio.to_thread(create_database, self.name)
        argv = (
            [sys.executable, str(BENCH / "e2e_probe.py")] if self.probe else [str(BRIDGE), "serve"]
        )
        for number in range(self.processes):  # one at a time: the first migrates
            self.http_ports.append(free_port())
            self.mllp_ports.append(free_port())
            log = self.run_dir / f"bridge-{number}.log"
            self.bridges.append(spawn(f"bridge-{number}", argv, self.env(number), log))
            await self._ready(number, 120)

    async def _ready(self, number: int, within: float) -> None:
        deadline = time.monotonic() + within
        url = f"http://127.0.0.1:{self.http_ports[number]}/readyz"
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.bridges[number].process.poll() is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        log = (self.run_dir / f"bridge-{number}.log").read_text()[-2000:]
        raise RuntimeError(f"bridge {number} not ready within {within} s:\n{log}")

    def pids(self) -> list[int]:
        return [bridge.pid for bridge in self.bridges]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def peak_rss(self) -> list[float]:
        return [peak_rss_mb(pid) for pid in self.pids()]

    def commits(self) -> tuple[int, int]:
        """(SQLAlchemy commits, SQLite write commits) of all bridges, from the probe's files."""
        total = [0, 0]
        for number in range(len(self.bridges)):
            path = self.run_dir / f"commits-{number}.txt"
            with contextlib.suppress(OSError, ValueError):
                values = path.read_text().split()
                total[0] += int(values[0])
                total[1] += int(values[1])
        return total[0], total[1]

    def db_commits(self) -> int | None:
        if self.mode != "production":
            return None
        return xact_commits(self.name)

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in self.bridges))

    async def clean(self) -> None:
        if self.mode == "production":
            await asyncio.to_thread(drop_database, self.name)
            await asyncio.to_thread(delete_rabbit_entities, self.name)
