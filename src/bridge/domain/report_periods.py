"""Half-years and years for the committees' follow-up, beside the calendar month. Pure.

The joint work order asks for indicators twice a year. :class:`HalfYear` (``2025-H2``) and
:class:`Year` (``2025``) behave like :class:`~bridge.domain.indicators.Month` (Swedish calendar,
``start`` inclusive, ``end`` exclusive, in UTC), so every indicator counts over any of them.
A period is **provisional** while it is not over: its figures can still change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import NamedTuple, Protocol

from bridge.domain.episodes import STOCKHOLM


class Span(Protocol):
    """A reporting period: a month, a half-year or a year."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    def holds(self, moment: datetime | None) -> bool: ...


def _first_instant(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=STOCKHOLM).astimezone(UTC)


class HalfYear(NamedTuple):
    year: int
    half: int

    def __str__(self) -> str:
        return f"{self.year:04d}-H{self.half}"

    @property
    def start(self) -> datetime:
        return _first_instant(date(self.year, 1 if self.half == 1 else 7, 1))

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> HalfYear:
        return HalfYear(self.year, 2) if self.half == 1 else HalfYear(self.year + 1, 1)

    def previous(self) -> HalfYear:
        return HalfYear(self.year, 1) if self.half == 2 else HalfYear(self.year - 1, 2)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


class Year(NamedTuple):
    year: int

    def __str__(self) -> str:
        return f"{self.year:04d}"

    @property
    def start(self) -> datetime:
        return _first_instant(date(self.year, 1, 1))

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Year:
        return Year(self.year + 1)

    def previous(self) -> Year:
        return Year(self.year - 1)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def parse_span(text: str) -> HalfYear | Year | None:
    """``2025-H1``, ``2025-H2`` or ``2025``; None for anything else (a month, say)."""
    text = text.strip()
    try:
        if len(text) == 4:
            return Year(int(text))
        if len(text) == 7 and text[4:6].upper() == "-H" and text[6] in "12":
            return HalfYear(int(text[:4]), int(text[6]))
    except ValueError:
        return None
    return None


def provisional(span: Span, now: datetime) -> bool:
    """Whether the period is still running at ``now`` (its figures can change)."""
    return now < span.end
