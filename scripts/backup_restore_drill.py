"""Backup/restore drill (docs/operations.md): pg_dump while notices flow, restore, start, verify.

1. A fresh PostgreSQL database, the Treserva simulator and one ``bridge serve`` on it (ephemeral
   ports), and a sender posting synthetic admissions over HTTP at a steady rate.
2. While they flow, ``pg_dump -Fc`` of the bridge database. Every notice acknowledged (AA)
   before pg_dump started is committed before its snapshot, so it must be in the dump.
3. The sender stops; the original bridge is stopped (the database "lost").
4. ``createdb`` + ``pg_restore`` into a new database; a bridge started on it must come up
   (readyz 200), ``bridge audit verify`` must pass, every notice acknowledged before the dump
   must be there, and the restored bridge delivers what was still waiting (Treserva drops the
   repeats on the idempotency key), so Treserva has every one of them.
5. Both databases dropped, every process stopped. Prints the figures and exits 0 when it all
   held, 1 when not.

Run: ``.venv/bin/python scripts/backup_restore_drill.py`` (``--help``). Needs pg_dump and
pg_restore of the server's major version and a role that may create databases. It never stops
or reconfigures the PostgreSQL server.
"""

# An operator's tool with fixed argument lists (the bridge, pg_dump, pg_restore from PATH).
# ruff: noqa: S603

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from e2e_load import patients  # type: ignore[import-not-found]  # noqa: E402

BRIDGE = [sys.executable, "-m", "bridge.entrypoints.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def database(admin_url: str, name: str) -> Iterator[str]:
    with psycopg.connect(libpq(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bridge_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_LOG_LEVEL="WARNING", BRIDGE_RETENTION_INTERVAL_SECONDS="0", **settings)
    return env


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(
            [*BRIDGE, *args], env=env, cwd=log.parent, stdout=self._file, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()


async def wait_ready(url: str, process: Process, within: float = 180) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise RuntimeError(f"exited: {process.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {within} s")


class Sender:
    """Posts admissions over HTTP at ``rate`` per second; remembers when each was acknowledged."""

    def __init__(self, base_url: str, rate: float, run: str, count: int) -> None:
        self._url = f"{base_url}/hl7v2"
        self._interval = 1 / rate
        self._notices = [n for stay in patients(run, count, 1) for n in stay]
        self.acked: dict[str, float] = {}
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for notice in self._notices:
                if self.stopped.is_set():
                    return
                started = time.monotonic()
                answer = await client.post(
                    self._url, content=notice.body, headers={"Content-Type": "application/hl7-v2"}
                )
                if "MSA|AA" in answer.text:
                    self.acked[notice.control_id] = time.monotonic()
                await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BRIDGE, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def count_controls(url: str, controls: set[str]) -> int:
    with psycopg.connect(libpq(url)) as connection:
        rows = connection.execute("SELECT dedupe_key FROM messages").fetchall()
    stored = {key.split("|", 1)[1] for (key,) in rows}
    return len(controls & stored)


def waiting_deliveries(url: str) -> int:
    with psycopg.connect(libpq(url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM deliveries WHERE status NOT IN ('delivered', 'discarded')"
        ).fetchone()
    return int(row[0]) if row else 0


async def drill(args: argparse.Namespace, work: Path) -> bool:
    run = uuid.uuid4().hex[:6]
    treserva_port = free_port()
    treserva = Process(
        ["simulate", "treserva", "--port", str(treserva_port)], bridge_env(), work / "treserva.log"
    )
    processes = [treserva]
    ok = True
    try:
        await wait_ready(f"http://127.0.0.1:{treserva_port}/healthz", treserva)
        with database(args.postgres_url, f"bridge_drill_{run}") as source_url:
            ports = {"BRIDGE_HTTP_PORT": str(free_port()), "BRIDGE_MLLP_PORT": str(free_port())}
            env = bridge_env(
                BRIDGE_DATABASE_URL=source_url,
                BRIDGE_TRESERVA_URL=f"http://127.0.0.1:{treserva_port}/fhir",
                **ports,
            )
            original = Process(["serve"], env, work / "bridge-original.log")
            processes.append(original)
            base = f"http://127.0.0.1:{ports['BRIDGE_HTTP_PORT']}"
            await wait_ready(f"{base}/readyz", original)

            sender = Sender(base, args.rate, run, args.notices)
            sending = asyncio.create_task(sender.run())
            await asyncio.sleep(args.dump_after)
            dump = work / "bridge.dump"
            dump_started = time.monotonic()
            acked_before = {c for c, at in sender.acked.items() if at < dump_started}
            dumped = await asyncio.create_subprocess_exec(
                "pg_dump", "-Fc", "-f", str(dump), libpq(source_url)
            )
            await dumped.wait()
            dump_seconds = time.monotonic() - dump_started
            await asyncio.sleep(1)
            sender.stopped.set()
            await sending
            original.stop()
            assert dumped.returncode == 0, "pg_dump failed"

            with database(args.postgres_url, f"bridge_restored_{run}") as restored_url:
                restore_started = time.monotonic()
                await asyncio.to_thread(
                    subprocess.run,
                    ["pg_restore", "--no-owner", "-d", libpq(restored_url), str(dump)],
                    check=True,
                )
                restore_seconds = time.monotonic() - restore_started
                ports = {"BRIDGE_HTTP_PORT": str(free_port()), "BRIDGE_MLLP_PORT": str(free_port())}
                env = bridge_env(
                    BRIDGE_DATABASE_URL=restored_url,
                    BRIDGE_TRESERVA_URL=f"http://127.0.0.1:{treserva_port}/fhir",
                    **ports,
                )
                start_started = time.monotonic()
                restored = Process(["serve"], env, work / "bridge-restored.log")
                processes.append(restored)
                await wait_ready(f"http://127.0.0.1:{ports['BRIDGE_HTTP_PORT']}/readyz", restored)
                start_seconds = time.monotonic() - start_started
                verify = run_cli(["audit", "verify"], env)
                found = count_controls(restored_url, acked_before)
                after_dump = set(sender.acked) - acked_before
                after_in_restore = count_controls(restored_url, after_dump)
                # A delivery queued or in flight at the dump's instant comes back when its lease
                # (BRIDGE_QUEUE_LEASE_SECONDS, 120) runs out: wait that long and a little more.
                drain_started = time.monotonic()
                deadline = drain_started + 180
                while waiting_deliveries(restored_url) and time.monotonic() < deadline:  # noqa: ASYNC110 (polls the database)
                    await asyncio.sleep(0.5)
                left_waiting = waiting_deliveries(restored_url)
                drain_seconds = time.monotonic() - drain_started
                async with httpx.AsyncClient() as client:
                    inbox = (await client.get(f"http://127.0.0.1:{treserva_port}/api/inbox")).json()
                at_treserva = {item["bundle"]["entry"][0]["resource"]["id"] for item in inbox}
                filed = len(inbox)
                restored.stop()

            print(f"notices acknowledged in all: {len(sender.acked)} at {args.rate}/s")
            print(f"acknowledged before pg_dump started: {len(acked_before)}")
            print(f"dump: {dump.stat().st_size / 1024:.0f} KiB, pg_dump {dump_seconds:.2f} s")
            print(f"pg_restore into a new database: {restore_seconds:.2f} s")
            print(f"restored bridge ready (readyz 200) after {start_seconds:.2f} s")
            print(f"bridge audit verify: exit {verify.returncode}: {verify.stdout.strip()}")
            print(f"acknowledged before the dump and in the restored database: {found}")
            print(
                f"acknowledged after pg_dump started: {len(after_dump)}, "
                f"{after_in_restore} of them in the dump (the rest: after its snapshot)"
            )
            print(
                f"deliveries still waiting on the restored bridge: {left_waiting} "
                f"(after {drain_seconds:.1f} s of draining)"
            )
            print(f"notices filed by Treserva (deduplicated): {filed} ({len(at_treserva)} headers)")
            ok = (
                verify.returncode == 0
                and found == len(acked_before) > 0
                and left_waiting == 0
                and filed >= len(acked_before)
            )
    finally:
        for process in reversed(processes):
            process.stop()
    print("drill held" if ok else "drill FAILED")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a role that may create databases (never the bridge's own database)",
    )
    parser.add_argument("--notices", type=int, default=2000, help="admissions to send at most")
    parser.add_argument("--rate", type=float, default=40.0, help="admissions per second")
    parser.add_argument("--dump-after", type=float, default=10.0, help="seconds of flow first")
    parser.add_argument("--work", type=Path, default=None, help="directory for dump and logs")
    args = parser.parse_args()
    work = args.work or Path(f"/tmp/bridge-drill-{uuid.uuid4().hex[:6]}")  # noqa: S108
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {work}")
    sys.exit(0 if asyncio.run(drill(args, work)) else 1)


if __name__ == "__main__":
    main()
