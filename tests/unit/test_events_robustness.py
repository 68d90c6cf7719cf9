"""Garbage in, for every event type and both formats: a deliberate answer, quickly, in bounded
memory. Decoding any input ends in an event, :class:`MessageRejected` (an AR / OperationOutcome)
or :class:`MessageIgnored` (an AA, nothing routed) — never another exception, never a hang.
"""

from __future__ import annotations

import copy
import gc
import json
import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.decode import READ_FAILURE, decode_message_bundle
from bridge.domain.hl7.decode import decode_hl7

FIXTURES = Path(__file__).parents[1] / "fixtures"
HL7_MESSAGES = [
    path.read_bytes().decode("utf-8")
    for path in sorted((FIXTURES / "hl7" / "events").glob("*.hl7"))
]
FHIR_BUNDLES = [
    json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((FIXTURES / "fhir" / "events").glob("in-*.json"))
]
SLOW_SECONDS = 5.0  # a hang guard, not a speed claim (speed is measured in bench/run.py)
HL7_NOISE = "|^~\\&\r\n MSHPIDPV1SCHMRGMSAAIPAIG0123456789+-.\"'ÅÄÖ\x00\x0b\x1c"


def hl7_answer(text: str) -> str:
    """Decode; return what happened. Fails the test on anything but a deliberate answer."""
    started = time.process_time()
    rejection: MessageRejected | None = None
    outcome = "event"
    try:
        decode_hl7(text)
    except MessageRejected as rejected:
        rejection, outcome = rejected, "rejected"
    except MessageIgnored:
        outcome = "ignored"
    assert time.process_time() - started < SLOW_SECONDS
    assert rejection is None or rejection.location, "a rejection names where the problem is"
    return outcome


def fhir_answer(body: Any) -> str:
    started = time.process_time()
    rejection: MessageRejected | None = None
    try:
        decode_message_bundle(body)
    except MessageRejected as rejected:
        rejection = rejected
    assert time.process_time() - started < SLOW_SECONDS
    if rejection is None:
        return "event"
    assert not rejection.reason.startswith(READ_FAILURE), repr(rejection.__cause__)
    assert rejection.location
    return "rejected"


# --- HL7 v2 ----------------------------------------------------------------------------------


def mutate_hl7(rng: random.Random, text: str) -> str:
    """Cut, repeat, drop, swap or scribble over segments, fields and characters."""
    segments = text.replace("\r\n", "\r").rstrip("\r").split("\r")
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        index = rng.randrange(len(segments))
        if choice == 0 and len(segments) > 1:
            del segments[index]
        elif choice == 1:
            segments.insert(index, segments[index])
        elif choice == 2:
            other = rng.randrange(len(segments))
            segments[index], segments[other] = segments[other], segments[index]
        elif choice == 3:
            fields = segments[index].split("|")
            position = rng.randrange(len(fields))
            fields[position] = "".join(rng.choices(HL7_NOISE, k=rng.randint(0, 12)))
            segments[index] = "|".join(fields)
        elif choice == 4:
            line = segments[index]
            cut = rng.randrange(len(line) + 1)
            segments[index] = line[:cut] + "".join(rng.choices(HL7_NOISE, k=3)) + line[cut:]
        else:
            segments[index] = segments[index][: rng.randrange(len(segments[index]) + 1)]
    return "\r".join(segments) + "\r"


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_as_hl7_get_a_deliberate_answer(body: bytes) -> None:
    hl7_answer(body.decode("utf-8", errors="replace"))


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(index=st.integers(0, len(HL7_MESSAGES) - 1), seed=st.integers(0, 2**32 - 1))
def test_mutated_hl7_messages_of_every_type_get_a_deliberate_answer(index: int, seed: int) -> None:
    # Given a valid message of any event type, mutated
    text = mutate_hl7(random.Random(seed), HL7_MESSAGES[index])
    # When it is decoded / Then the answer is an event, a rejection or "ignored", quickly
    hl7_answer(text)


def test_every_hl7_fixture_is_an_event_or_ignored_unmutated() -> None:
    assert {hl7_answer(text) for text in HL7_MESSAGES} <= {"event", "ignored"}


# --- FHIR ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            containers(child, found)
    return found


def mutate_fhir(rng: random.Random, bundle: dict[str, Any], junk: list[Any]) -> dict[str, Any]:
    """Replace, drop or add members of a few objects or arrays, anywhere in the Bundle."""
    bundle = copy.deepcopy(bundle)
    for _ in range(rng.randint(1, 4)):
        target = rng.choice(containers(bundle, []))
        if isinstance(target, dict) and target:
            key = rng.choice(sorted(target))
            if rng.random() < 0.5:
                del target[key]
            else:
                target[key] = copy.deepcopy(rng.choice(junk))
        elif isinstance(target, list) and target:
            target[rng.randrange(len(target))] = copy.deepcopy(rng.choice(junk))
        elif isinstance(target, dict):
            target[rng.choice(["id", "status", "x", "reference"])] = copy.deepcopy(rng.choice(junk))
    return bundle


JUNK: list[Any] = [None, "", "x", 0, -1, 1.5, True, [], {}, [{}], {"reference": "urn:uuid:nope"},
                   "2025-13-45", "191212121213", {"system": "urn:x"}, "booked", "finished",
                   {"code": "municipality"}, "replaces"]  # fmt: skip


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(index=st.integers(0, len(FHIR_BUNDLES) - 1), seed=st.integers(0, 2**32 - 1))
def test_mutated_fhir_bundles_of_every_type_get_a_deliberate_answer(index: int, seed: int) -> None:
    # Given a valid Bundle of any event type with members replaced, dropped or added
    bundle = mutate_fhir(random.Random(seed), FHIR_BUNDLES[index], JUNK)
    # When it is decoded, as a dict and as JSON bytes / Then the answer is deliberate, quickly
    fhir_answer(bundle)
    fhir_answer(json.dumps(bundle).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(index=st.integers(0, len(FHIR_BUNDLES) - 1), value=json_values, seed=st.integers(0, 99))
def test_fhir_bundles_with_arbitrary_json_members_get_a_deliberate_answer(
    index: int, value: Any, seed: int
) -> None:
    fhir_answer(mutate_fhir(random.Random(seed), FHIR_BUNDLES[index], [value]))


# --- memory ----------------------------------------------------------------------------------


def test_thousands_of_garbage_inputs_do_not_grow_memory() -> None:
    # Given a few thousand mutated messages of every type, in both formats
    rng = random.Random(20250303)
    hl7_inputs = [mutate_hl7(rng, rng.choice(HL7_MESSAGES)) for _ in range(2000)]
    fhir_inputs = [mutate_fhir(rng, rng.choice(FHIR_BUNDLES), JUNK) for _ in range(1000)]

    def run_all() -> None:
        for text in hl7_inputs:
            hl7_answer(text)
        for bundle in fhir_inputs:
            fhir_answer(bundle)

    # When they are all decoded once to warm caches, then twice more under tracemalloc
    run_all()
    gc.collect()
    tracemalloc.start()
    try:
        run_all()
        gc.collect()
        after_one, _ = tracemalloc.get_traced_memory()
        run_all()
        gc.collect()
        after_two, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the second pass keeps (almost) nothing the first did not: no unbounded growth
    assert after_two - after_one < 256 * 1024, f"grew {after_two - after_one} bytes"
    assert after_one < 2 * 1024 * 1024, f"{after_one} bytes retained after one pass"
