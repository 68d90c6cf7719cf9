"""Translation throughput per event type, messages per second on one core (``make bench``).

For every event type, both directions, measured in one run on one pinned CPU:

- HL7 v2 in → FHIR out: ``decode_hl7`` → ``for_destination`` → ``encode_message_bundle`` →
  JSON bytes (what the bridge does for a FHIR destination);
- FHIR in → HL7 v2 out: ``decode_message_bundle`` (from bytes) → ``encode_hl7``.

SIP plans have no HL7 v2 form (docs/mapping.md), so they are measured FHIR in → FHIR out. The
baseline is hl7apy's ``parse_message`` of the same ADT^A01 (parsing only, no translation); the
ratio column compares each path with it. Inputs are the golden fixtures in tests/fixtures.
Rates are messages per CPU second of this pinned, single-threaded process
(``time.process_time``), so a busy machine does not make the code look slower than it is.

    python bench/run.py [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import hl7apy.parser

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.fhir.examples import example_event
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import CareTransitionEvent, EventCode

ROOT = Path(__file__).resolve().parents[1]
HL7_FIXTURES = ROOT / "tests" / "fixtures" / "hl7" / "events"
BASELINE_FIXTURE = HL7_FIXTURES / "adt_a01_admission_v28.hl7"
TARGET = 2000  # messages per second per core the translation path must reach
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ROUTE = {
    "source_name": "bridge",
    "source_endpoint": "http://bridge.bench/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.bench/fhir",
}
KEY = "9b2e4c1a-7d3f-4e8b-a6c5-1f0e2d3c4b5a"


def rate(action: Callable[[], object], seconds: float) -> float:
    """Messages per CPU second: warm up, then run growing batches for ``seconds`` of CPU time.

    CPU time of this (pinned, single-threaded) process, not wall time: on a shared machine the
    wall clock also counts the time other processes held the core.
    """
    for _ in range(20):
        action()
    batch, done, started = 10, 0, time.process_time()
    while (elapsed := time.process_time() - started) < seconds:
        for _ in range(batch):
            action()
        done += batch
        batch = min(batch * 2, 2000)
    return done / elapsed


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity on this OS)"


def to_fhir_bytes(event: CareTransitionEvent) -> bytes:
    bundle = encode_message_bundle(
        event.for_destination(), bundle_id="bench-1", idempotency_key=KEY, now=NOW, **ROUTE
    )
    return dumps(bundle)


def to_hl7(event: CareTransitionEvent) -> str:
    return encode_hl7(event.for_destination(), control_id="BENCH-1", now=NOW)


def hl7_inputs() -> dict[EventCode, str]:
    """One golden HL7 v2 message per event type that has an HL7 v2 form."""
    found: dict[EventCode, str] = {}
    for path in sorted(HL7_FIXTURES.glob("*.hl7")):
        text = path.read_bytes().decode("utf-8")
        try:
            found.setdefault(decode_hl7(text).event, text)
        except Exception:
            continue
    return found


def cases() -> list[tuple[str, str, Callable[[], Any]]]:
    """(event, direction, action) for every event type and direction."""
    hl7 = hl7_inputs()
    found: list[tuple[str, str, Callable[[], Any]]] = []
    for code in EventCode:
        if code.value == "deviation":
            continue
        fhir_in = to_fhir_bytes(example_event(code))
        text = hl7.get(code)
        if text is not None:
            found.append(
                (code.value, "HL7 v2 -> FHIR", lambda t=text: to_fhir_bytes(decode_hl7(t)))
            )
            found.append(
                (code.value, "FHIR -> HL7 v2", lambda b=fhir_in: to_hl7(decode_message_bundle(b)))
            )
        else:
            found.append(
                (
                    code.value,
                    "FHIR -> FHIR",
                    lambda b=fhir_in: to_fhir_bytes(decode_message_bundle(b)),
                )
            )
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="CPU time per measurement")
    seconds = parser.parse_args(argv).seconds
    pinned = pin_to_one_core()
    baseline_text = BASELINE_FIXTURE.read_bytes().decode("utf-8").strip()
    print(f"python {platform.python_version()}, hl7apy {version('hl7apy')}, {pinned}")
    print(f"{seconds:.1f} CPU s per measurement; inputs: tests/fixtures (golden messages)\n")

    baseline = rate(lambda: hl7apy.parser.parse_message(baseline_text), seconds)
    rows = [("admission (A01)", "hl7apy parse only (baseline)", baseline)]
    rows += [(event, direction, rate(action, seconds)) for event, direction, action in cases()]

    width = max(len(row[0]) for row in rows)
    direction_width = max(len(row[1]) for row in rows)
    header = f"{'event':<{width}}  {'direction':<{direction_width}}  {'msg/s/core':>10}  vs hl7apy"
    print(header)
    print("-" * len(header))
    for event, direction, value in rows:
        print(
            f"{event:<{width}}  {direction:<{direction_width}}  {value:>10,.0f}  "
            f"{value / baseline:>7.1f} x"
        )
    slowest = min(rows[1:], key=lambda row: row[2])
    verdict = "meets" if slowest[2] >= TARGET else "MISSES"
    print(
        f"\nslowest translation path: {slowest[0]} {slowest[1]} at {slowest[2]:,.0f} msg/s/core; "
        f"{verdict} the {TARGET:,} msg/s/core target"
    )
    return 0 if slowest[2] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
