"""End-to-end bench: accept → outbox → relay → deliver, on real ``bridge serve`` processes.

N synthetic admissions over MLLP, HTTP or AMQP from C connections, delivered to a plain HTTP
sink (bench/e2e_sink.py, its own process); per run (mode × transport × processes × C) it
prints accepted/s, delivered/s, ACK and send→delivered percentiles, CPU ms and commits per
notice, peak RSS, and what the sink saw (lost, effective duplicates, order violations), beside
the raw limits of RabbitMQ, PostgreSQL and SQLite measured in the same run.

    python bench/e2e.py                                  # both modes, MLLP, C=8 and 32, N=2000
    python bench/e2e.py --small                          # CI size
    python bench/e2e.py --modes production --processes 2 --concurrency 32
    python bench/e2e.py --scenario backlog --n 20000
    python bench/e2e.py --transports http,amqp --rate 100 --json out.json

How each figure is measured: docs in ``--help`` and the notes printed under the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import e2e_raw
from e2e_load import (
    AmqpSender,
    HttpLane,
    Lane,
    MllpLane,
    SendRecord,
    patients,
    send_all,
    workload,
)
from e2e_stack import AMQP_URL, Sink, Stack

BACKLOG_ENV = {
    "BRIDGE_BACKOFF_INITIAL_SECONDS": "0.5",
    "BRIDGE_BACKOFF_MAX_SECONDS": "5",
    "BRIDGE_MAX_ATTEMPTS": "1000000",
}


@dataclass
class Options:
    modes: list[str]
    transports: list[str]
    n: int
    concurrency: list[int]
    processes: int
    scenario: str
    per_patient: int
    rate: float
    half_rate: bool
    timeout: float
    raw: bool
    probe: bool
    trickle_rate: float
    outage_after: float
    json_path: Path | None
    keep: bool


@dataclass
class RunResult:
    mode: str
    transport: str
    processes: int
    concurrency: int
    n: int
    scenario: str
    rate: float
    sent: int = 0
    acked: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    accepted_per_s: float = 0.0
    delivered_per_s: float = 0.0
    ack_p50_ms: float = 0.0
    ack_p99_ms: float = 0.0
    e2e_p50_s: float = 0.0
    e2e_p99_s: float = 0.0
    cpu_ms_per_notice: float = 0.0
    idle_cpu_ms_per_s: float = 0.0
    commits_per_notice: float | None = None
    commits_source: str = ""
    sqlalchemy_commits_per_notice: float | None = None
    idle_commits_per_s: float | None = None
    peak_rss_mb: list[float] = field(default_factory=list)
    lost: int = 0
    effective_duplicates: int = 0
    repeated_keys: int = 0
    order_violations: int = 0
    sink_refused: int = 0
    sink_cpu_ms_per_notice: float = 0.0
    load_cpu_ms_per_notice: float = 0.0
    drain_s: float | None = None
    drain_per_s: float | None = None
    trickle_acked: int | None = None
    trickle_ack_p50_ms: float | None = None
    trickle_ack_p99_ms: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Deliveries:
    """What the sink saw, by source message id (MSH-10)."""

    first: dict[str, float]
    keys: dict[str, set[str]]
    repeated_keys: int
    last: float

    @classmethod
    def of(cls, records: list[tuple[float, str, str]], prefix: str) -> Deliveries:
        first: dict[str, float] = {}
        keys: dict[str, set[str]] = {}
        pairs: set[tuple[str, str]] = set()
        repeated = 0
        last = 0.0
        for moment, key, message_id in records:
            if not message_id.startswith(prefix):
                continue
            if (key, message_id) in pairs:
                repeated += 1
            pairs.add((key, message_id))
            keys.setdefault(message_id, set()).add(key)
            if message_id not in first:
                first[message_id] = moment
                last = max(last, moment)
        return cls(first, keys, repeated, last)

    def effective_duplicates(self) -> int:
        """Messages that arrived under more than one idempotency key: a receiver cannot tell."""
        return sum(len(keys) - 1 for keys in self.keys.values())

    def order_violations(self) -> int:
        """Notices that arrived after a later notice of the same patient (first arrivals)."""
        by_patient: dict[str, list[tuple[float, int]]] = {}
        for message_id, moment in self.first.items():
            patient, position = message_id.rsplit("-", 1)
            by_patient.setdefault(patient, []).append((moment, int(position)))
        violations = 0
        for arrivals in by_patient.values():
            highest = -1
            for _, sequence in sorted(arrivals):
                if sequence < highest:
                    violations += 1
                highest = max(highest, sequence)
        return violations


def make_lanes(transport: str, stack: Stack, count: int, amqp: AmqpSender | None) -> list[Lane]:
    if transport == "amqp":
        assert amqp is not None
        return [amqp] * count
    ports = stack.mllp_ports if transport == "mllp" else stack.http_ports
    kind = MllpLane if transport == "mllp" else HttpLane
    return [kind(ports[i % len(ports)], 30) for i in range(count)]


async def close_lanes(lanes: list[Lane]) -> None:
    for lane in set(lanes):
        await lane.close()


async def wait_delivered(sink: Sink, wanted: set[str], prefix: str, deadline: float) -> Deliveries:
    """Poll the sink until every wanted message arrived, or the deadline."""
    while True:
        delivered, _ = await sink.stats()
        if delivered >= len(wanted) or time.monotonic() > deadline:
            seen = Deliveries.of(await sink.records(), prefix)
            if wanted <= seen.first.keys() or time.monotonic() > deadline:
                return seen
        await asyncio.sleep(0.25)


async def run_one(
    options: Options, mode: str, transport: str, concurrency: int, base: Path, rate: float
) -> RunResult:
    result = RunResult(
        mode,
        transport,
        options.processes,
        concurrency,
        options.n,
        options.scenario,
        rate,
    )
    run_dir = Path(tempfile.mkdtemp(prefix=f"e2ebench-{mode}-", dir=base))
    sink = Sink(run_dir)
    extra = dict(BACKLOG_ENV) if options.scenario == "backlog" else {}
    result.env = {"BRIDGE_LOG_LEVEL": "WARNING", **extra}
    stack = Stack(mode, options.processes, run_dir, sink.url, extra, probe=options.probe)
    amqp: AmqpSender | None = None
    try:
        await stack.start()
        if transport == "amqp":
            amqp = AmqpSender(AMQP_URL, stack.inbound_exchange, 30)
            await amqp.start()
        await measure(options, result, stack, sink, transport, concurrency, amqp)
    except Exception as error:  # a failed run is reported in its row, the others still run
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if amqp is not None:
            await amqp.close()
        await stack.stop()
        await sink.close()
        await stack.clean()
        if not options.keep:
            await asyncio.to_thread(shutil.rmtree, run_dir, True)
    return result


async def measure(
    options: Options,
    result: RunResult,
    stack: Stack,
    sink: Sink,
    transport: str,
    concurrency: int,
    amqp: AmqpSender | None,
) -> None:
    run = uuid.uuid4().hex[:6]
    load = workload(run, options.n, options.per_patient)
    # Idle: what the bridges cost doing nothing (polling loops), for scale.
    cpu0, (sa0, _) = stack.cpu(), stack.commits()
    await asyncio.sleep(3)
    cpu1, (sa1, sw1) = stack.cpu(), stack.commits()
    result.idle_cpu_ms_per_s = (cpu1 - cpu0) * 1000 / 3
    result.idle_commits_per_s = (sa1 - sa0) / 3 if options.probe else None
    db0 = await asyncio.to_thread(stack.db_commits)
    helpers0 = _helper_cpu(sink)
    if options.scenario == "backlog":
        await sink.refuse(True)
    lanes = make_lanes(transport, stack, concurrency, amqp)
    record = await send_all(load, lanes, result.rate)
    await close_lanes(lanes)
    result.sent = len(record.sent_at)
    result.acked = len(record.acked_at)
    result.answers = record.answers
    acked = set(record.acked_at)
    trickle: SendRecord | None = None
    if options.scenario == "backlog":
        await asyncio.sleep(options.outage_after)
        recovered = time.monotonic()
        await sink.refuse(False)
        trickle_task, stop = _trickle(options, stack, transport, amqp, run)
        seen = await wait_delivered(sink, acked, run, recovered + options.timeout)
        stop.set()
        trickle = await trickle_task
        drained = [seen.first[m] for m in acked if m in seen.first]
        if drained:
            result.drain_s = max(drained) - recovered
            result.drain_per_s = len(drained) / result.drain_s if result.drain_s > 0 else None
        acked |= set(trickle.acked_at)
        result.trickle_acked = len(trickle.acked_at)
        result.trickle_ack_p50_ms = quantile(trickle.ack_latencies(), 0.5) * 1000
        result.trickle_ack_p99_ms = quantile(trickle.ack_latencies(), 0.99) * 1000
    seen = await wait_delivered(sink, acked, run, time.monotonic() + options.timeout)
    cpu2, (sa2, sw2) = stack.cpu(), stack.commits()
    result.peak_rss_mb = [round(mb, 1) for mb in stack.peak_rss()]
    helpers1 = _helper_cpu(sink)
    await stack.stop()  # PostgreSQL flushes a backend's statistics when it exits
    await asyncio.sleep(0.5)
    db1 = await asyncio.to_thread(stack.db_commits)
    _, result.sink_refused = await sink.stats()
    delivered = [m for m in record.acked_at if m in seen.first]
    result.delivered = len(delivered)
    result.lost = len(acked - seen.first.keys())
    result.effective_duplicates = seen.effective_duplicates()
    result.repeated_keys = seen.repeated_keys
    result.order_violations = seen.order_violations()
    last_ack = record.last_ack or time.monotonic()
    result.accepted_per_s = result.acked / max(last_ack - record.first_send, 1e-9)
    if delivered:
        last = max(seen.first[m] for m in delivered)
        result.delivered_per_s = len(delivered) / max(last - record.first_send, 1e-9)
        e2e = [seen.first[m] - record.sent_at[m] for m in delivered]
        result.e2e_p50_s, result.e2e_p99_s = quantile(e2e, 0.5), quantile(e2e, 0.99)
    acks = record.ack_latencies()
    result.ack_p50_ms = quantile(acks, 0.5) * 1000
    result.ack_p99_ms = quantile(acks, 0.99) * 1000
    notices = max(len(seen.first), 1)
    result.cpu_ms_per_notice = (cpu2 - cpu1) * 1000 / notices
    result.sink_cpu_ms_per_notice = (helpers1[0] - helpers0[0]) * 1000 / notices
    result.load_cpu_ms_per_notice = (helpers1[1] - helpers0[1]) * 1000 / notices
    if options.probe:
        result.sqlalchemy_commits_per_notice = (sa2 - sa1) / notices
    if db0 is not None and db1 is not None:
        result.commits_per_notice = (db1 - db0) / notices
        result.commits_source = "pg_stat_database.xact_commit"
    elif options.probe:
        result.commits_per_notice = (sw2 - sw1) / notices
        result.commits_source = "SQLite write commits (probe)"


def _helper_cpu(sink: Sink) -> tuple[float, float]:
    """CPU seconds of the sink and of this process (the load generator)."""
    from e2e_stack import cpu_seconds

    return cpu_seconds(sink.process.pid), time.process_time()


def _trickle(
    options: Options, stack: Stack, transport: str, amqp: AmqpSender | None, run: str
) -> tuple[asyncio.Task[SendRecord], asyncio.Event]:
    """One connection sending new patients at ``trickle_rate`` while the backlog drains."""
    stop = asyncio.Event()
    trickle = patients(f"{run}t", 1_000_000, 1, first=options.n + 10)

    async def go() -> SendRecord:
        record = SendRecord()
        lanes = make_lanes(transport, stack, 1, amqp)
        interval = 1 / options.trickle_rate
        try:
            for notices in trickle:
                if stop.is_set():
                    break
                started = time.monotonic()
                await send_all([notices], lanes, 0, record)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            await close_lanes(lanes)
        return record

    return asyncio.create_task(go()), stop


async def raw_limits(base: Path, modes: list[str]) -> dict[str, float | str]:
    limits: dict[str, float | str] = {}
    limits["sqlite_commits_per_s"] = await asyncio.to_thread(e2e_raw.sqlite_rate, base)
    if "production" in modes:
        try:
            limits["postgres_commits_per_s"] = await e2e_raw.postgres_rate()
        except Exception as error:
            limits["postgres_error"] = f"{type(error).__name__}: {error}"
        try:
            limits["rabbitmq_msgs_per_s"] = await e2e_raw.rabbitmq_rate()
        except Exception as error:
            limits["rabbitmq_error"] = f"{type(error).__name__}: {error}"
    return limits


# Output -------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def table(results: list[RunResult], limits: dict[str, Any]) -> str:
    lines = [
        "| mode | transport | P | C | N | accepted/s | delivered/s | ACK p50 / p99 ms "
        "| send→delivered p50 / p99 s | CPU ms/notice | commits/notice | peak RSS MB "
        "| lost | dup | order |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error:
            lines.append(
                f"| {r.mode} | {r.transport} | {r.processes} | {r.concurrency} | {r.n} "
                f"| failed: {r.error[:160]} |"
            )
            continue
        lines.append(
            f"| {r.mode} | {r.transport} | {r.processes} | {_load(r)} | {r.acked} "
            f"| {_f(r.accepted_per_s)} | {_f(r.delivered_per_s)} "
            f"| {_f(r.ack_p50_ms)} / {_f(r.ack_p99_ms)} "
            f"| {_f(r.e2e_p50_s, 2)} / {_f(r.e2e_p99_s, 2)} | {_f(r.cpu_ms_per_notice, 1)} "
            f"| {_f(r.commits_per_notice, 1)} | {' + '.join(_f(m) for m in r.peak_rss_mb)} "
            f"| {r.lost} | {r.effective_duplicates} | {r.order_violations} |"
        )
    lines += ["", _raw_line(limits), ""]
    lines += _ratios(results, limits)
    lines += _details(results)
    return "\n".join(lines)


def _load(r: RunResult) -> str:
    """C, and the fixed rate when there was one."""
    return f"{r.concurrency} @ {r.rate:g}/s" if r.rate else str(r.concurrency)


def _raw_line(limits: dict[str, Any]) -> str:
    if not limits:
        return "Raw limits: not measured (--no-raw)."
    parts = [f"SQLite {_f(limits.get('sqlite_commits_per_s'))} commits/s (WAL, synchronous=FULL)"]
    if "postgres_commits_per_s" in limits:
        parts.append(f"PostgreSQL {_f(limits['postgres_commits_per_s'])} commits/s (4 clients)")
    if "rabbitmq_msgs_per_s" in limits:
        parts.append(
            f"RabbitMQ {_f(limits['rabbitmq_msgs_per_s'])} msgs/s "
            "(persistent, quorum, confirms, 64 in flight, consumed)"
        )
    parts += [f"{k}: {v}" for k, v in limits.items() if k.endswith("_error")]
    return "Raw limits, same run: " + "; ".join(parts)


def _ratios(results: list[RunResult], limits: dict[str, Any]) -> list[str]:
    lines = [
        "| mode | transport | P | C | delivered ÷ accepted | delivered/s ÷ floor "
        "| commit load ÷ DB commit rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error or not r.accepted_per_s:
            continue
        floor_name = "rabbitmq_msgs_per_s" if r.mode == "production" else "sqlite_commits_per_s"
        db_name = "postgres_commits_per_s" if r.mode == "production" else "sqlite_commits_per_s"
        floor, db = limits.get(floor_name), limits.get(db_name)
        to_floor = f"{r.delivered_per_s / floor:.3f} (of {floor_name})" if floor else "n/a"
        load = "n/a"
        if db and r.commits_per_notice is not None:
            load = f"{r.delivered_per_s * r.commits_per_notice / db:.3f}"
        lines.append(
            f"| {r.mode} | {r.transport} | {r.processes} | {_load(r)} "
            f"| {r.delivered_per_s / r.accepted_per_s:.2f} | {to_floor} | {load} |"
        )
    return lines


NO_COUNTER = "n/a (--no-probe, and SQLite keeps no commit counter of its own)"


def _details(results: list[RunResult]) -> list[str]:
    lines = [""]
    for r in results:
        if r.error:
            continue
        sa = _f(r.sqlalchemy_commits_per_notice, 1)
        lines.append(
            f"- {r.mode}/{r.transport} P={r.processes} C={_load(r)}: answers {r.answers}; "
            f"idle bridges {_f(r.idle_cpu_ms_per_s, 1)} CPU ms/s, "
            f"{_f(r.idle_commits_per_s, 1)} SQLAlchemy transactions/s; "
            f"commits/notice from {r.commits_source or NO_COUNTER}, "
            f"SQLAlchemy transactions/notice {sa}; "
            f"same key delivered again {r.repeated_keys}; sink CPU "
            f"{_f(r.sink_cpu_ms_per_notice, 2)} ms/notice, load generator "
            f"{_f(r.load_cpu_ms_per_notice, 2)} ms/notice"
        )
        if r.scenario == "backlog":
            lines.append(
                f"  backlog: sink answered 503 {r.sink_refused} times while {r.acked} arrived; "
                f"drained in {_f(r.drain_s, 1)} s ({_f(r.drain_per_s, 1)}/s) after recovery; "
                f"trickle during the drain: {r.trickle_acked} acked, ACK p50 / p99 "
                f"{_f(r.trickle_ack_p50_ms)} / {_f(r.trickle_ack_p99_ms)} ms; "
                f"settings {r.env}"
            )
    return lines


NOTES = """\
Notes: bridges run with BRIDGE_LOG_LEVEL=WARNING (logging not measured), each a `bridge serve`
(via bench/e2e_probe.py, which only adds commit counters). Rates run from the first send to the
last ACK (accepted/s) and to the first arrival of the last delivered notice (delivered/s). CPU:
utime+stime (+ children) of all bridge processes from /proc, from the end of a 3 s idle window
to the moment the sink had every ACKed notice (polled every 0.25 s), divided by notices
delivered. Commits: PostgreSQL pg_stat_database.xact_commit of the bench database up to after the
bridges stopped (shutdown included); SQLite: commits with a write transaction, counted in the
bridge process. lost = ACKed AA but never at the sink within the timeout; dup = messages that
arrived under more than one idempotency key; order = notices that arrived after a later notice
of the same patient."""


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument("--transports", default="mllp", help="mllp,http,amqp")
    parser.add_argument("--n", type=int, default=2000, help="notices per run")
    parser.add_argument("--concurrency", default="8,32", help="connections, e.g. 8,32")
    parser.add_argument("--processes", type=int, default=1, help="bridge processes")
    parser.add_argument("--scenario", choices=("throughput", "backlog"), default="throughput")
    parser.add_argument(
        "--per-patient", type=int, default=1, help="notices per patient (A01, A08, A16, A03)"
    )
    parser.add_argument("--rate", type=float, default=0, help="msgs/s overall; 0: flat out")
    parser.add_argument(
        "--half-rate",
        action="store_true",
        help="after each flat-out run, run again at half its delivered/s",
    )
    parser.add_argument("--timeout", type=float, default=600, help="s to wait for delivery")
    parser.add_argument("--trickle-rate", type=float, default=5, help="backlog: msgs/s")
    parser.add_argument(
        "--outage-after",
        type=float,
        default=5,
        help="backlog: seconds the sink keeps refusing after the last notice was sent",
    )
    parser.add_argument("--small", action="store_true", help="CI size: N=60, C=8, 4 per patient")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw limits")
    parser.add_argument("--no-probe", action="store_true", help="plain `bridge serve`")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    n, concurrency, per_patient, timeout = args.n, args.concurrency, args.per_patient, args.timeout
    if args.small:
        n, concurrency, per_patient, timeout = 60, "8", 4, min(timeout, 120)
    return Options(
        modes=args.modes.split(","),
        transports=args.transports.split(","),
        n=n,
        concurrency=[int(c) for c in concurrency.split(",")],
        processes=args.processes,
        scenario=args.scenario,
        per_patient=per_patient,
        rate=args.rate,
        half_rate=args.half_rate,
        timeout=timeout,
        raw=not args.no_raw,
        probe=not args.no_probe,
        trickle_rate=args.trickle_rate,
        outage_after=args.outage_after,
        json_path=args.json,
        keep=args.keep,
    )


async def main(argv: list[str]) -> int:
    options = parse(argv)
    base = Path(tempfile.mkdtemp(prefix="e2ebench-"))
    started = datetime.now(UTC)
    print(
        f"bridge e2e bench {started:%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"scenario {options.scenario}, {options.per_patient} notice(s) per patient",
        flush=True,
    )
    limits = await raw_limits(base, options.modes) if options.raw else {}
    results = []
    for mode in options.modes:
        for transport in options.transports:
            if transport == "amqp" and mode == "embedded":
                print("(amqp skipped in embedded mode: there is no broker)", flush=True)
                continue
            for concurrency in options.concurrency:
                print(
                    f"running {mode} {transport} P={options.processes} C={concurrency} "
                    f"N={options.n} ...",
                    flush=True,
                )
                result = await run_one(options, mode, transport, concurrency, base, options.rate)
                results.append(result)
                if options.half_rate and not result.error and result.delivered_per_s > 0:
                    half = round(result.delivered_per_s / 2, 1)
                    print(f"  ... again at {half} msgs/s (half its delivered/s)", flush=True)
                    results.append(await run_one(options, mode, transport, concurrency, base, half))
    if not options.keep:
        await asyncio.to_thread(shutil.rmtree, base, True)
    print()
    print(table(results, limits))
    print()
    print(NOTES)
    if options.json_path is not None:
        options.json_path.write_text(
            json.dumps(
                {
                    "started": started.isoformat(),
                    "raw": limits,
                    "runs": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
