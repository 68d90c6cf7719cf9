"""A circuit breaker per destination: while it fails, one notice probes it, the rest wait.

Without it every waiting notice kept its own retry timer, so a destination that was down while
a backlog built up was hit by every notice in turn, again and again (100,000 notices meant
hundreds of failing attempts a second), and when it came back each notice waited out its own
backoff before trying again. With it, after ``threshold`` consecutive transient failures the
relay stops releasing that destination's notices except one probe at a time, spaced by a
backoff of its own (doubling from ``initial`` up to ``cap``); the first probe that is
delivered closes the breaker and the backlog drains at once, in each patient's order.

The breaker lives in each process's memory: it only saves work. Correctness (order, retries,
dead letters) stays with the outbox rows, whatever the breaker says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.connectors.port import Outcome


@dataclass
class _Breaker:
    failures: int = 0
    open_until: datetime | None = None
    interval: float = 0.0
    probing: bool = False


class DestinationHealth:
    def __init__(self, *, threshold: int = 3, initial: float = 1.0, cap: float = 30.0) -> None:
        self._threshold = threshold
        self._initial = initial
        self._cap = cap
        self._breakers: dict[str, _Breaker] = {}

    def use_cap(self, cap: float) -> None:
        """Probe at most ``cap`` seconds apart from now on (a reloaded routing file)."""
        self._cap = cap
        self._initial = min(self._initial, cap)

    def record(self, destination: str, outcome: Outcome, now: datetime) -> bool:
        """Note an attempt's outcome; True when this closed an open breaker (recovered)."""
        breaker = self._breakers.setdefault(destination, _Breaker())
        if outcome is Outcome.DELIVERED:
            recovered = breaker.open_until is not None
            self._breakers.pop(destination, None)
            return recovered
        if outcome is not Outcome.TRANSIENT:
            return False
        breaker.failures += 1
        if breaker.open_until is None and breaker.failures >= self._threshold:
            breaker.interval = self._initial
            breaker.open_until = now + timedelta(seconds=breaker.interval)
        elif breaker.probing:
            # The probe failed (a notice that was already on its way when the breaker opened
            # proves nothing new): wait twice as long before the next one.
            breaker.probing = False
            breaker.interval = min(self._cap, breaker.interval * 2)
            breaker.open_until = now + timedelta(seconds=breaker.interval)
        return False

    def is_open(self, destination: str) -> bool:
        breaker = self._breakers.get(destination)
        return breaker is not None and breaker.open_until is not None

    def held_back(self, now: datetime) -> tuple[set[str], set[str]]:
        """Destinations whose notices wait, and those of them due a probe now.

        Asking for probes spaces the next ones: a probe is handed out once per interval.
        """
        waiting: set[str] = set()
        probes: set[str] = set()
        for name, breaker in self._breakers.items():
            if breaker.open_until is None:
                continue
            waiting.add(name)
            if now >= breaker.open_until:
                probes.add(name)
                breaker.probing = True
                breaker.open_until = now + timedelta(seconds=breaker.interval)
        return waiting, probes
