"""Home-care order deadlines (pure): when the municipality's answer is due, and the counts the
indicators use. docs/orders.md.

The deadline runs from when the bridge accepted the order (the moment the municipality could
have it), either ``hours`` later, or — when ``working_days`` is set — at the same local time
(Europe/Stockholm) that many working days later, Saturdays and Sundays not counted. Public
holidays are not known to the bridge and count as working days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OPEN_STATUSES = frozenset({"requested"})
"""An order in these states waits for the municipality: its deadline runs."""


@dataclass(frozen=True)
class OrderDeadlinePolicy:
    hours: float = 48.0
    working_days: int | None = None

    def deadline(self, sent_at: datetime) -> datetime:
        if self.working_days is None:
            return sent_at + timedelta(hours=self.hours)
        local = sent_at.astimezone(STOCKHOLM)
        day, left = local.date(), self.working_days
        while left:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        due = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=STOCKHOLM)
        return due.astimezone(sent_at.tzinfo)

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working days"
        return f"{self.hours:g} hours"


@dataclass(frozen=True)
class OrderCounts:
    """Orders sent in a period and what became of them (as of the moment counted)."""

    sent: int = 0
    answered: int = 0
    accepted: int = 0
    rejected: int = 0
    need_more_information: int = 0
    unanswered_past_deadline: int = 0
    answered_late: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "need_more_information": self.need_more_information,
            "unanswered_past_deadline": self.unanswered_past_deadline,
            "answered_late": self.answered_late,
        }


@dataclass(frozen=True)
class OrderState:
    """One order as counted: its status, deadline and when it was answered (if it was)."""

    status: str
    deadline_at: datetime | None
    answered_at: datetime | None


def count_states(states: list[OrderState], now: datetime) -> OrderCounts:
    """The counts for these orders at ``now`` (pure; :func:`count_orders` reads the rows)."""
    answered = [s for s in states if s.answered_at is not None]
    return OrderCounts(
        sent=len(states),
        answered=len(answered),
        accepted=sum(s.status == "accepted" for s in states),
        rejected=sum(s.status == "rejected" for s in states),
        need_more_information=sum(s.status == "on-hold" for s in states),
        unanswered_past_deadline=sum(
            s.status in OPEN_STATUSES and s.deadline_at is not None and s.deadline_at <= now
            for s in states
        ),
        answered_late=sum(
            s.deadline_at is not None
            and s.answered_at is not None
            and s.answered_at > s.deadline_at
            for s in answered
        ),
    )
