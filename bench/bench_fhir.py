"""FHIR encode and decode speed on one core: ``python bench/bench_fhir.py [seconds]``.

Prints messages per second for encode (canonical → dict → bytes), decode (bytes → canonical)
and the round trip a relayed FHIR message takes through the bridge (decode → encode → bytes).
The target is ≥ 2,000 messages/second/core for the whole path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.fhir.examples import (
    EXAMPLE_BUNDLE_ID,
    EXAMPLE_IDEMPOTENCY_KEY,
    EXAMPLE_NOW,
    EXAMPLE_ROUTE,
    admission_example,
)
from bridge.domain.model import CareTransitionEvent


def encode(event: CareTransitionEvent) -> bytes:
    bundle = encode_message_bundle(
        event,
        bundle_id=EXAMPLE_BUNDLE_ID,
        idempotency_key=EXAMPLE_IDEMPOTENCY_KEY,
        now=EXAMPLE_NOW,
        **EXAMPLE_ROUTE,
    )
    return dumps(bundle)


def rate(label: str, work: Callable[[], object], seconds: float) -> float:
    for _ in range(200):
        work()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            work()
        count += 100
    per_second = count / (time.perf_counter() - started)
    print(f"{label:<28} {per_second:>10,.0f} msgs/s  ({1e6 / per_second:6.1f} µs/msg)")
    return per_second


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    event = admission_example()
    wire = encode(event)
    print(f"admission message: {len(wire):,} bytes")
    rate("encode (event → bytes)", lambda: encode(event), seconds)
    rate("decode (bytes → event)", lambda: decode_message_bundle(wire), seconds)
    rate("decode → encode → bytes", lambda: encode(decode_message_bundle(wire)), seconds)


if __name__ == "__main__":
    main()
