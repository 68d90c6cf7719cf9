"""Retry schedule per destination: exponential backoff with jitter until a maximum age (pure;
the delivery worker applies it).

A count of attempts never ends retries (ARCHITECTURE.md guarantee 5): an outage of an hour costs
a notice many attempts but not its delivery. Only the maximum age (default 24 h) gives a
transient failure up. The backoff is capped (default 60 s) so that a destination that recovers
is tried again within a minute, and the destination's circuit breaker probes at least as often
(:mod:`bridge.service.delivery.destination_health`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.domain.routing import Destination, RetrySettings
from bridge.service.delivery.dead_letters import DeadReason


@dataclass(frozen=True)
class Retry:
    """Try again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Stop retrying: the delivery goes to the dead letters for ``reason``."""

    reason: DeadReason


@dataclass(frozen=True)
class RetryPolicy:
    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    multiplier: float = 2.0
    max_age_seconds: float = 86_400.0

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            initial_seconds=settings.initial_seconds,
            max_seconds=settings.max_seconds,
            max_age_seconds=settings.max_age_seconds,
        )

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based).

        "Equal jitter": uniformly between half the exponential ceiling and the ceiling, so
        retries of many deliveries spread out but none comes back at once.
        """
        exponent = min(max(attempts - 1, 0), 64)
        ceiling = min(self.max_seconds, self.initial_seconds * self.multiplier**exponent)
        return (rng or random).uniform(ceiling / 2, ceiling)

    def after_transient_failure(
        self, attempts: int, age_seconds: float, rng: random.Random | None = None
    ) -> Retry | GiveUp:
        """What to do after the ``attempts``-th transient failure, ``age_seconds`` into the
        retry window (since the delivery was created, or last replayed).

        The last retry is scheduled no later than the window's end, so a delivery is tried
        right up to its maximum age and then given up, never left waiting past it. However
        many attempts it took, only the age ends the retries.
        """
        remaining = self.max_age_seconds - age_seconds
        if remaining <= 0:
            return GiveUp(DeadReason.MAX_AGE)
        return Retry(min(self.delay(attempts, rng), remaining))


def probe_cap(probe_max_seconds: float, policies: Iterable[RetryPolicy]) -> float:
    """The breaker's longest probe interval: never longer than any destination's backoff cap,
    so a recovered destination is found at least as soon as a notice's own retry would."""
    return min([probe_max_seconds, *(policy.max_seconds for policy in policies)])


def policy_for(destination: Destination, defaults: RetrySettings) -> RetryPolicy:
    """The destination's policy: what its routing entry sets, ``defaults`` for the rest."""
    explicit = destination.retry.model_fields_set
    merged = defaults.model_copy(
        update={name: getattr(destination.retry, name) for name in explicit}
    )
    return RetryPolicy.from_settings(merged)
