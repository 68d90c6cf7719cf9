"""HL7 v2 throughput on one core: hl7apy's parser against the bridge's own decode and encode.

Run from the repository root:  python bench/bench_hl7.py [--seconds 2]

The message is the golden v2.5 ADT^A01 admission notice (tests/fixtures/hl7/adt_a01_v25.hl7).
The process is pinned to one CPU where the OS allows it, so the figures are per core.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import hl7apy.parser

from bridge.domain.hl7 import build_ack, decode_hl7, encode_hl7, parse_er7, peek_header

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "hl7" / "adt_a01_v25.hl7"
TARGET = 2000  # messages per second per core the whole translation path must reach


def rate(action: Callable[[], object], seconds: float) -> float:
    """Messages per second: warm up, then run batches until ``seconds`` have passed."""
    for _ in range(20):
        action()
    batch, done, started = 10, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            action()
        done += batch
        batch = min(batch * 2, 5000)
    return done / elapsed


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity on this OS)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    seconds = parser.parse_args().seconds

    text = FIXTURE.read_bytes().decode("utf-8")
    hl7apy_text = text.strip()
    event = decode_hl7(text)
    now = datetime.now(UTC)

    def translate() -> object:
        decoded = decode_hl7(text)
        outgoing = encode_hl7(decoded, control_id="BENCH-1", now=now)
        return outgoing, build_ack(peek_header(text), "AA", now=now, control_id="ACK-1")

    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "hl7apy parse_message (find_groups=True)",
            lambda: hl7apy.parser.parse_message(hl7apy_text),
        ),
        (
            "hl7apy parse_message (find_groups=False)",
            lambda: hl7apy.parser.parse_message(hl7apy_text, find_groups=False),
        ),
        ("bridge parse_er7 (ER7 only)", lambda: parse_er7(text)),
        ("bridge decode_hl7 (ER7 -> canonical)", lambda: decode_hl7(text)),
        (
            "bridge encode_hl7 (canonical -> ER7)",
            lambda: encode_hl7(event, control_id="B", now=now),
        ),
        ("bridge decode + encode + ACK", translate),
    ]

    print(f"python {platform.python_version()}, hl7apy {version('hl7apy')}, {pin_to_one_core()}")
    print(f"message: {FIXTURE.name}, {len(text.encode())} bytes, {seconds:.1f} s per case\n")
    rates = {name: rate(action, seconds) for name, action in cases}
    baseline = rates[cases[0][0]]
    width = max(len(name) for name in rates)
    for name, value in rates.items():
        print(f"{name:<{width}}  {value:>10,.0f} msg/s  {value / baseline:>7.1f} x hl7apy")
    path = rates["bridge decode + encode + ACK"]
    verdict = "meets" if path >= TARGET else "MISSES"
    print(f"\ntranslation path {path:,.0f} msg/s/core {verdict} the {TARGET:,} msg/s/core target")


if __name__ == "__main__":
    main()
