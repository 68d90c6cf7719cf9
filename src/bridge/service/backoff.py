"""Retry schedule: exponential backoff with full jitter, capped (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    initial_seconds: float = 1.0
    max_seconds: float = 300.0
    multiplier: float = 2.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        ceiling = min(self.max_seconds, self.initial_seconds * self.multiplier ** (attempts - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def gives_up_after(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
