"""Counters the simulator keeps about what it was sent and what it did with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Stats:
    """``received`` counts every notice request; each ends in exactly one other counter.

    The ``receipts_*`` and ``enrolments_*`` counters count what the simulator sent the bridge
    (``*_sent``: the bridge answered ok).
    """

    received: int = 0
    filed: int = 0
    duplicates: int = 0
    dropped: int = 0
    failed: int = 0
    rejected: int = 0
    receipts_sent: int = 0
    receipts_failed: int = 0
    enrolments_sent: int = 0
    enrolments_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def reset(self) -> None:
        for name in self.as_dict():
            setattr(self, name, 0)
