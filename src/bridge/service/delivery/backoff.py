"""Retry schedule per destination: exponential backoff with jitter, a maximum age and a
maximum number of attempts (pure; the delivery worker applies it)."""

from __future__ import annotations

import random
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
    max_attempts: int = 12
    initial_seconds: float = 1.0
    max_seconds: float = 300.0
    multiplier: float = 2.0
    max_age_seconds: float = 86_400.0

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
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

    def gives_up_after(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def after_transient_failure(
        self, attempts: int, age_seconds: float, rng: random.Random | None = None
    ) -> Retry | GiveUp:
        """What to do after the ``attempts``-th transient failure, ``age_seconds`` into the
        retry window (since the delivery was created, or last replayed).

        The last retry is scheduled no later than the window's end, so a delivery is tried
        right up to its maximum age and then given up, never left waiting past it.
        """
        if self.gives_up_after(attempts):
            return GiveUp(DeadReason.MAX_ATTEMPTS)
        remaining = self.max_age_seconds - age_seconds
        if remaining <= 0:
            return GiveUp(DeadReason.MAX_AGE)
        return Retry(min(self.delay(attempts, rng), remaining))


def policy_for(destination: Destination, defaults: RetrySettings) -> RetryPolicy:
    """The destination's policy: what its routing entry sets, ``defaults`` for the rest."""
    explicit = destination.retry.model_fields_set
    merged = defaults.model_copy(
        update={name: getattr(destination.retry, name) for name in explicit}
    )
    return RetryPolicy.from_settings(merged)
