"""Hostile load against a real bridge: idle and slow connections, a huge body, a body that never
ends (issue 12, must show 2). Prints figures; exits 1 when a check fails.

The bridge runs as ``bridge serve`` (embedded: SQLite, no broker) in a subprocess whose open-file
limit is ``--nofile`` (RLIMIT_NOFILE, soft and hard), delivering to the bench's HTTP sink. This
process raises its own limit to its hard limit and then, for ``--seconds``:

- keeps ``--connections`` hostile MLLP connections going, from many loopback addresses
  (127.0.x.y, ``--per-address`` each): half idle (nothing sent), half slow (a frame begun, then
  one byte every ``--drip`` seconds). Whenever the bridge closes one, another is opened, so the
  pressure stays on; ``--http-connections`` more do the same against HTTP (idle, or request
  headers one byte at a time);
- a real sender on its own persistent MLLP connection sends an admission every 0.25 s and
  notes each ACK's latency; a second sender opens a new connection for each message;
- ``GET /readyz`` on a new connection every 0.5 s, latency noted.

Then a 300 MB ``POST /hl7v2`` (declared length, and chunked without one), RSS of the bridge
sampled throughout; then a ``POST /hl7v2`` whose chunked body never ends, timed to its close.
Log lines the bridge wrote during the attack are counted.

    python bench/hostile.py                      # full size: 5,000 connections, 1,024 fds
    python bench/hostile.py --connections 1200 --nofile 256 --seconds 8   # CI size
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from e2e_load import msa1, patients  # noqa: E402

START, END = b"\x0b", b"\x1c\r"
HL7_BODY = b"MSH|^~\\&|TAKECARE|GOTLAND|BRIDGE|REGION|20240301101500+0100||ADT^A01|X|P|2.5\r"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def raise_own_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Bridge:
    process: subprocess.Popen[bytes]
    http_port: int
    mllp_port: int
    log_path: Path
    sink: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        for proc in (self.process, self.sink):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start_bridge(run_dir: Path, nofile: int, body_timeout: float, frame_timeout: float) -> Bridge:
    sink = subprocess.Popen(
        [sys.executable, str(BENCH / "e2e_sink.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert sink.stdout is not None
    sink_port = int(sink.stdout.readline())
    http_port, mllp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        {
            "BRIDGE_DATABASE_URL": f"sqlite:///{run_dir / 'bridge.db'}",
            "BRIDGE_HTTP_PORT": str(http_port),
            "BRIDGE_MLLP_PORT": str(mllp_port),
            "BRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
            "BRIDGE_TRESERVA_URL": f"http://127.0.0.1:{sink_port}/fhir",
            "BRIDGE_LOG_JSON": "false",
            "BRIDGE_LOG_LEVEL": os.environ.get("HOSTILE_BRIDGE_LOG_LEVEL", "INFO"),
            "BRIDGE_HTTP_BODY_TIMEOUT_SECONDS": str(body_timeout),
            "BRIDGE_MLLP_FRAME_TIMEOUT_SECONDS": str(frame_timeout),
        }
    )

    def limit_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log_path = run_dir / "bridge.log"
    bridge_bin = Path(sys.executable).parent / "bridge"
    process = subprocess.Popen(
        [str(bridge_bin), "serve"],
        env=env,
        cwd=run_dir,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=limit_fds,
        start_new_session=True,
    )
    return Bridge(process, http_port, mllp_port, log_path, sink)


async def wait_ready(bridge: Bridge, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if bridge.process.poll() is not None:
            raise SystemExit(f"bridge exited: {bridge.log_path.read_text()[-2000:]}")
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            status, _ = await http_get(bridge.http_port, "/readyz", within=2)
            if status == 200:
                return
        await asyncio.sleep(0.2)
    raise SystemExit("bridge not ready in time")


async def http_get(port: int, path: str, within: float) -> tuple[int, float]:
    started = time.monotonic()
    async with asyncio.timeout(within):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
            await reader.read()
        finally:
            writer.close()
    if not line:
        raise ConnectionResetError("closed without an answer")
    return int(line.split()[1]), time.monotonic() - started


class _Hostile(asyncio.Protocol):
    def __init__(self, attack: Attack, slow: bool) -> None:
        self.attack = attack
        self.slow = slow
        self.transport: asyncio.Transport | None = None
        self.opened = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.opened = time.monotonic()
        if self.slow:
            transport.write(START if self.attack.kind == "mllp" else b"POST /hl7v2 HTTP/1.1\r\n")

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class Attack:
    """Keeps ``count`` hostile connections going until ``stop`` is set (cheaply: protocols,
    one ticker writing a byte to every slow connection each ``drip`` seconds)."""

    port: int
    count: int
    kind: str  # "mllp" or "http"
    addresses: list[str]
    drip: float
    stop: asyncio.Event
    opened: int = 0
    failed: int = 0
    closed_by_server: int = 0
    open_now: int = 0
    peak_open: int = 0
    lifetimes: list[float] = field(default_factory=list)
    live: set[_Hostile] = field(default_factory=set)

    async def run(self) -> None:
        ticker = asyncio.create_task(self._tick())
        await asyncio.gather(*(self._slot(i) for i in range(self.count)))
        ticker.cancel()
        for hostile in list(self.live):
            if hostile.transport is not None:
                hostile.transport.abort()

    async def _tick(self) -> None:
        trickle = b"M" if self.kind == "mllp" else b"X"
        while True:
            await asyncio.sleep(self.drip)
            for hostile in list(self.live):
                if hostile.slow and hostile.transport is not None:
                    hostile.transport.write(trickle)

    async def _slot(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        address = self.addresses[index % len(self.addresses)]
        slow = index % 2 == 1
        await asyncio.sleep(index * 0.002)  # ramp up over ~10 s for 5,000
        while not self.stop.is_set():
            try:
                async with asyncio.timeout(10):
                    _, hostile = await loop.create_connection(
                        lambda: _Hostile(self, slow),
                        "127.0.0.1",
                        self.port,
                        local_addr=(address, 0),
                    )
            except (OSError, TimeoutError):
                self.failed += 1
                await asyncio.sleep(1.0)
                continue
            self.opened += 1
            self.open_now += 1
            self.peak_open = max(self.peak_open, self.open_now)
            self.live.add(hostile)
            stopping = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait({hostile.closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            self.live.discard(hostile)
            self.open_now -= 1
            self.lifetimes.append(time.monotonic() - hostile.opened)
            if hostile.closed.done():
                self.closed_by_server += 1
                await asyncio.sleep(1.0)

    def summary(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "count": self.count,
            "opened": self.opened,
            "failed": self.failed,
            "closed_by_server": self.closed_by_server,
            "peak_open": self.peak_open,
            "median_lifetime": pct(self.lifetimes, 0.5),
        }


def attacker(
    mllp_port: int,
    http_port: int,
    args: argparse.Namespace,
    seconds: float,
    results: multiprocessing.Queue[list[dict[str, object]]],
) -> None:
    """The hostile connections, in their own process (its own event loop and CPU), at the
    lowest CPU priority: a real attacker is on another machine, so its own CPU use should not
    be taken from the bridge on this one."""
    raise_own_fd_limit()
    os.nice(19)

    async def attack() -> list[dict[str, object]]:
        stop = asyncio.Event()
        addresses = loopback_addresses(args.connections, args.per_address)
        attacks = [
            Attack(mllp_port, args.connections, "mllp", addresses, args.drip, stop),
            Attack(http_port, args.http_connections, "http", addresses, args.drip, stop),
        ]
        running = [asyncio.create_task(a.run()) for a in attacks]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*running)
        return [a.summary() for a in attacks]

    results.put(asyncio.run(attack()))


async def real_sender(port: int, stop: asyncio.Event, persistent: bool) -> dict[str, object]:
    """Admissions every 0.25 s; ACK latency (with connect, for the non-persistent one)."""
    run = "HP" if persistent else "HN"
    notices = (n[0] for n in patients(f"{run}{os.getpid() % 1000}", 100_000, 1))
    latencies: list[float] = []
    codes: dict[str, int] = {}
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while not stop.is_set():
            notice = next(notices)
            started = time.monotonic()
            try:
                # A real sender waits for its ACK (30 s) rather than reconnecting: a new
                # connection would queue behind the flood in the listen queue.
                async with asyncio.timeout(30):
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    reader, writer = connection
                    writer.write(START + notice.body + END)
                    await writer.drain()
                    ack = await reader.readuntil(END)
                code = msa1(ack)
                latencies.append(time.monotonic() - started)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
                code = type(error).__name__
                if connection is not None:
                    connection[1].close()
                connection = None
            codes[code] = codes.get(code, 0) + 1
            if not persistent and connection is not None:
                connection[1].close()
                connection = None
            await asyncio.sleep(0.25)
    finally:
        if connection is not None:
            connection[1].close()
    return {"latencies": latencies, "codes": codes}


async def readiness_probe(port: int, stop: asyncio.Event) -> dict[str, object]:
    latencies: list[float] = []
    failures: dict[str, int] = {}
    while not stop.is_set():
        try:
            status, took = await http_get(port, "/readyz", within=5)
            if status == 200:
                latencies.append(took)
            else:
                failures[str(status)] = failures.get(str(status), 0) + 1
        except (OSError, TimeoutError) as error:
            failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
        await asyncio.sleep(0.5)
    return {"latencies": latencies, "failures": failures}


async def huge_body(bridge: Bridge, megabytes: int, declared: bool) -> dict[str, float | str]:
    """Send ``megabytes`` of body as fast as possible; time to the answer; peak RSS growth."""
    before = rss_mb(bridge.pid)
    peak = before
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(bridge.pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.http_port)
    total = megabytes * 1024 * 1024
    head = "POST /hl7v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/hl7-v2\r\n"
    head += f"Content-Length: {total}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    started = time.monotonic()
    writer.write((head + "\r\n").encode())
    chunk = b"A" * 65_536
    answer: list[str] = []
    sent = 0

    async def send() -> None:
        nonlocal sent
        with contextlib.suppress(OSError, ConnectionError):
            while sent < total:
                piece = chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                writer.write(piece)
                await writer.drain()
                sent += len(chunk)

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(30):
            line = await reader.readline()
        answer.append(line.decode(errors="replace").strip() or "closed without answer")
    except (OSError, ConnectionError, TimeoutError) as error:
        answer.append(type(error).__name__)
    took = time.monotonic() - started
    sender.cancel()
    writer.close()
    await asyncio.sleep(0.3)
    stop.set()
    await sampler
    return {
        "answer": answer[0],
        "seconds": took,
        "rss_before": before,
        "rss_growth": peak - before,
        "sent_mb": sent / 1024 / 1024,
    }


async def never_ending_body(bridge: Bridge) -> dict[str, float | str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.http_port)
    head = "POST /hl7v2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    started = time.monotonic()
    writer.write(head.encode())

    async def drip() -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                writer.write(b"1\r\nA\r\n")
                await writer.drain()
                await asyncio.sleep(1)

    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(120):
            line = await reader.readline()
            await reader.read()  # until the bridge closes
        answer = line.decode(errors="replace").strip() or "closed without answer"
    except (OSError, ConnectionError, TimeoutError) as error:
        answer = type(error).__name__
    took = time.monotonic() - started
    dripping.cancel()
    writer.close()
    return {"answer": answer, "closed_after": took}


def loopback_addresses(count: int, per_address: int) -> list[str]:
    needed = max(1, -(-count // per_address))
    base = ipaddress.IPv4Address("127.0.1.1")
    return [str(base + i) for i in range(needed)]


async def main(args: argparse.Namespace) -> int:
    own_limit = raise_own_fd_limit()
    failures: list[str] = []

    figures: dict[str, object] = {}

    def check(ok: bool, what: str) -> str:
        if not ok:
            failures.append(what)
        return "ok" if ok else "FAIL"

    with tempfile.TemporaryDirectory(prefix="bridge-hostile-") as tmp:
        run_dir = Path(tmp)
        bridge = start_bridge(run_dir, args.nofile, args.body_timeout, args.frame_timeout)
        try:
            await wait_ready(bridge)
            lines_before = len(bridge.log_lines())
            print(
                f"bridge pid {bridge.pid}: RLIMIT_NOFILE {args.nofile}; "
                f"bench RLIMIT_NOFILE {own_limit}"
            )
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(real_sender(bridge.mllp_port, stop, persistent=True)),
                asyncio.create_task(real_sender(bridge.mllp_port, stop, persistent=False)),
                asyncio.create_task(readiness_probe(bridge.http_port, stop)),
            ]
            await asyncio.sleep(0.5)  # the persistent sender's first AA before the flood
            spawn = multiprocessing.get_context("spawn")
            results: multiprocessing.Queue[list[dict[str, object]]] = spawn.Queue()
            hostile = spawn.Process(
                target=attacker,
                args=(bridge.mllp_port, bridge.http_port, args, args.seconds, results),
            )
            hostile.start()
            peak_fds = 0
            cpu_before = cpu_seconds(bridge.pid)
            attack_end = time.monotonic() + args.seconds
            while time.monotonic() < attack_end:
                peak_fds = max(peak_fds, open_fds(bridge.pid))
                await asyncio.sleep(0.25)
            bridge_cpu = cpu_seconds(bridge.pid) - cpu_before
            load = os.getloadavg()[0]
            stop.set()
            persistent, fresh, ready = await asyncio.gather(*tasks)
            figures.update(persistent=persistent, fresh=fresh, ready=ready)
            summaries = await asyncio.to_thread(results.get, True, 120)
            hostile.join(30)
            await asyncio.sleep(0.5)
            attack_lines = bridge.log_lines()[lines_before:]

            addresses = loopback_addresses(args.connections, args.per_address)
            print(f"\nhostile connections for {args.seconds:.0f} s from {len(addresses)} addresses")
            for attack in summaries:
                print(
                    f"  {attack['kind']:4}: target {attack['count']} open at once, opened "
                    f"{attack['opened']} in all, peak open (client side) {attack['peak_open']}, "
                    f"closed by the bridge {attack['closed_by_server']}, connect failures "
                    f"{attack['failed']}, median lifetime {attack['median_lifetime']:.1f} s"
                )
            print(
                f"  bridge open fds peak {peak_fds} (limit {args.nofile}); bridge CPU "
                f"{bridge_cpu / args.seconds * 100:.0f}% of one core; machine load average "
                f"{load:.1f} on {os.cpu_count()} cores"
            )
            opened = int(summaries[0]["opened"])  # type: ignore[call-overload]
            check(opened >= args.connections, "fewer hostile connections than asked")
            for name, result in (("persistent", persistent), ("new connection each", fresh)):
                lat = result["latencies"]
                assert isinstance(lat, list)
                codes = result["codes"]
                ok = bool(lat) and max(lat) < 1.0 and set(codes) == {"AA"}  # type: ignore[arg-type]
                print(
                    f"  real sender ({name}): {len(lat)} ACKs {codes}, latency p50 "
                    f"{pct(lat, 0.5) * 1000:.1f} ms p99 {pct(lat, 0.99) * 1000:.1f} ms max "
                    f"{max(lat, default=float('nan')) * 1000:.1f} ms  "
                    f"[{check(ok, f'sender {name}: AA within 1 s')}]"
                )
            lat = ready["latencies"]
            assert isinstance(lat, list)
            ok = bool(lat) and not ready["failures"] and max(lat) < 1.0
            print(
                f"  /readyz: {len(lat)} answered 200, failures {ready['failures']}, latency "
                f"p50 {pct(lat, 0.5) * 1000:.1f} ms max "
                f"{max(lat, default=float('nan')) * 1000:.1f} ms  "
                f"[{check(ok, '/readyz answers')}]"
            )
            incident = [line for line in attack_lines if "further occurrences" in line]
            delivered = [line for line in attack_lines if "delivery.deliver: delivered" in line]
            other = [line for line in attack_lines if line not in delivered]
            print(
                f"  bridge log lines during the attack: {len(attack_lines)}: "
                f"{len(delivered)} 'delivered' lines of the real senders' notices, "
                f"{len(other)} others, of which {len(incident)} incident lines:"
            )
            for line in other[:12]:
                print(f"    | {line[:160]}")
            check(len(other) <= 20, "log flood")
            figures["log_lines_other"] = len(other)
            figures["incident_lines"] = len(incident)

            print(f"\n{args.big_mb} MB POST /hl7v2")
            for declared in (True, False):
                big = await huge_body(bridge, args.big_mb, declared)
                figures["big_declared" if declared else "big_chunked"] = big
                seconds, growth = float(big["seconds"]), float(big["rss_growth"])
                ok = str(big["answer"]).startswith("HTTP/1.1 413") and seconds < 1.0
                ok = ok and growth < 32
                how = "Content-Length" if declared else "chunked"
                print(
                    f"  {how:14}: {big['answer']!r} after {seconds * 1000:.0f} ms "
                    f"(client had sent {float(big['sent_mb']):.1f} MB); bridge RSS "
                    f"{float(big['rss_before']):.1f} MB, growth {growth:.1f} MB  "
                    f"[{check(ok, f'{how} 300 MB refused in 1 s, RSS < 32 MB')}]"
                )

            print(f"\nnever-ending body (deadline {args.body_timeout:.0f} s)")
            endless = await never_ending_body(bridge)
            figures["endless"] = endless
            status, _ = await http_get(bridge.http_port, "/readyz", within=10)
            figures["ready_after"] = status
            took = float(endless["closed_after"])
            ok = str(endless["answer"]).startswith("HTTP/1.1 408")
            ok = ok and args.body_timeout <= took < args.body_timeout + 2
            print(
                f"  answered {endless['answer']!r} and closed after {took:.2f} s  "
                f"[{check(ok, 'never-ending body closed at its deadline')}]"
            )
        finally:
            bridge.stop()
            if os.environ.get("HOSTILE_KEEP_LOG"):
                shutil.copy(bridge.log_path, os.environ["HOSTILE_KEEP_LOG"])
    print("\nresult:", "all checks passed" if not failures else f"FAILED: {failures}")
    if args.json:
        figures["failures"] = failures
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(figures))
    return 1 if failures else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--http-connections", type=int, default=500)
    parser.add_argument("--per-address", type=int, default=40)
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--drip", type=float, default=3.0)
    parser.add_argument("--big-mb", type=int, default=300)
    parser.add_argument("--body-timeout", type=float, default=5.0)
    parser.add_argument("--frame-timeout", type=float, default=10.0)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None, out: Callable[[int], None] = sys.exit) -> None:
    out(asyncio.run(main(parse(argv))))


if __name__ == "__main__":
    run()
