"""The retry policy: exponential backoff with jitter until a maximum age (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.routing import Destination, RetrySettings
from bridge.service.delivery.backoff import GiveUp, Retry, RetryPolicy, policy_for
from bridge.service.delivery.dead_letters import DeadReason
from bridge.service.delivery.receipts import receipt_timeout_for


def test_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    # Given a policy starting at 1 s, doubling, capped at 60 s
    policy = RetryPolicy(initial_seconds=1, max_seconds=60)
    rng = random.Random(7)

    # When the delay after each failed attempt is drawn many times
    spans = {n: [policy.delay(n, rng) for _ in range(200)] for n in (1, 2, 3, 7, 30)}

    # Then each lies in [ceiling / 2, ceiling] and they spread out (jitter)
    for attempts, ceiling in ((1, 1), (2, 2), (3, 4), (7, 60), (30, 60)):
        assert all(ceiling / 2 <= d <= ceiling for d in spans[attempts])
        assert max(spans[attempts]) - min(spans[attempts]) > ceiling / 4


def test_a_count_of_attempts_never_ends_retries() -> None:
    # Given the default policy, and a notice that failed very often within its maximum age
    policy = RetryPolicy()

    # Then it is retried, within the default cap of 60 s, until the age runs out
    for attempts in (12, 100, 10_000):
        verdict = policy.after_transient_failure(attempts, 3600)
        assert isinstance(verdict, Retry) and 30 <= verdict.delay <= 60
    assert policy.after_transient_failure(10_000, 86_400) == GiveUp(DeadReason.MAX_AGE)


def test_an_hour_long_outage_is_ridden_out_with_a_retry_at_least_every_minute() -> None:
    # Given the default policy and a destination down for one hour
    policy, rng, age, attempts = RetryPolicy(), random.Random(3), 0.0, 0
    # When a notice fails on every attempt during that hour
    while age < 3600:
        attempts += 1
        verdict = policy.after_transient_failure(attempts, age, rng)
        # Then it is never given up, and never waits more than a minute
        assert isinstance(verdict, Retry) and verdict.delay <= 60
        age += verdict.delay
    assert attempts > 60


def test_gives_up_at_the_maximum_age_and_never_waits_past_it() -> None:
    # Given a policy with a one-hour maximum age and long backoff
    policy = RetryPolicy(initial_seconds=600, max_seconds=3600, max_age_seconds=3600)

    # Then a retry near the end is scheduled no later than the end, and after it: dead
    verdict = policy.after_transient_failure(5, 3500)
    assert isinstance(verdict, Retry) and verdict.delay <= 100
    assert policy.after_transient_failure(6, 3600) == GiveUp(DeadReason.MAX_AGE)


@given(attempts=st.integers(1, 10_000), age=st.floats(0, 10**7, allow_nan=False))
def test_every_verdict_is_bounded(attempts: int, age: float) -> None:
    policy = RetryPolicy(initial_seconds=0.5, max_seconds=300, max_age_seconds=86_400)
    verdict = policy.after_transient_failure(attempts, age)
    if isinstance(verdict, Retry):
        assert 0 < verdict.delay <= 300 and age + verdict.delay <= 86_400
    else:
        assert verdict == GiveUp(DeadReason.MAX_AGE) and age >= 86_400


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ({}, RetryPolicy(initial_seconds=2, max_seconds=30, max_age_seconds=600)),
        (
            {"max_seconds": 9, "max_age_seconds": 60},
            RetryPolicy(initial_seconds=2, max_seconds=9, max_age_seconds=60),
        ),
        (  # deprecated, still accepted, ignored
            {"max_attempts": 9},
            RetryPolicy(initial_seconds=2, max_seconds=30, max_age_seconds=600),
        ),
    ],
)
def test_a_destination_overrides_the_defaults_field_by_field(
    retry: dict[str, float], expected: RetryPolicy
) -> None:
    # Given BRIDGE_* defaults and a destination that sets some retry fields in the routing file
    defaults = RetrySettings(initial_seconds=2, max_seconds=30, max_age_seconds=600)
    destination = Destination.model_validate(
        {"name": "treserva", "address": "http://t.test/fhir", "retry": retry}
    )
    # Then its policy takes what it sets and the defaults for the rest
    assert policy_for(destination, defaults) == expected


def test_receipt_timeout_from_the_destination_else_the_default() -> None:
    unset = Destination(name="a", address="http://a.test/fhir")
    own = Destination(name="b", address="http://b.test/fhir", receipt_timeout_seconds=30)
    none = Destination.model_validate(
        {"name": "c", "address": "http://c.test/fhir", "receipt_timeout_seconds": None}
    )
    assert receipt_timeout_for(unset, 900) == 900
    assert receipt_timeout_for(own, 900) == 30
    assert receipt_timeout_for(none, 900) is None
