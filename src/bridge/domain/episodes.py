"""Care episodes: one hospital stay followed through its notices and their receipts. Pure.

An episode is what the law's deadlines are counted on. The bridge sees it only through the
notices that cross it: each accepted notice becomes a :class:`Notice` (when the bridge took it
from the sender, what it said about the stay, and for each recipient when it was delivered and
receipted). :func:`fold` reads the notices in the order they were sent and says where the stay
stands: admitted when, discharge-ready since when (or withdrawn), discharged when, cancelled.

Everything here is plain values; the service layer loads them from the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

from bridge.domain.model import EventCode

STOCKHOLM = ZoneInfo("Europe/Stockholm")
"""The law's days are Swedish calendar days."""

SIP_INVITATIONS = frozenset({EventCode.SIP_MEETING_BOOKED})
"""A booked SIP meeting is the kallelse till SIP (SIU^S12, FHIR Appointment booked)."""
SIP_EVENTS = frozenset(
    {
        EventCode.SIP_MEETING_BOOKED,
        EventCode.SIP_MEETING_MOVED,
        EventCode.SIP_PLAN_ESTABLISHED,
        EventCode.SIP_PLAN_UPDATED,
    }
)
EPISODE_EVENTS = frozenset(
    {
        EventCode.ADMISSION,
        EventCode.ESTIMATED_DISCHARGE_CHANGED,
        EventCode.DISCHARGE_READY,
        EventCode.DISCHARGE_READY_WITHDRAWN,
        EventCode.DISCHARGE,
        EventCode.DISCHARGE_CANCELLED,
        EventCode.ADMISSION_CANCELLED,
        EventCode.TRANSFER,
        EventCode.SIP_MEETING_BOOKED,
        EventCode.SIP_MEETING_MOVED,
        EventCode.SIP_MEETING_CANCELLED,
        EventCode.SIP_PLAN_ESTABLISHED,
        EventCode.SIP_PLAN_UPDATED,
        EventCode.SIP_PLAN_CLOSED,
    }
)
"""Events that belong to a hospital stay (the others: merges, enrolments, receipts)."""


class EpisodeStatus(StrEnum):
    OPEN = "open"
    DISCHARGED = "discharged"
    CANCELLED = "cancelled"


def in_utc(value: datetime | None) -> datetime | None:
    """The same instant in UTC. Python subtracts two times of one ``ZoneInfo`` by their wall
    clocks, which is wrong across a daylight-saving change; in UTC it is always elapsed time."""
    return value.astimezone(UTC) if value is not None else None


class _InUtc:
    """Dataclass mixin: every datetime field is stored in UTC."""

    def __post_init__(self) -> None:
        for item in fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                object.__setattr__(self, item.name, in_utc(value))


class Step(StrEnum):
    """How far a notice got: taken from the sender, delivered to, receipted by the recipient."""

    SENT = "sent"
    DELIVERED = "delivered"
    RECEIPTED = "receipted"


@dataclass(frozen=True)
class Unit:
    """A care unit as the notices name it (HSA-id and name; either may be missing)."""

    hsa_id: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """What indicators group by: the HSA-id, else the name, else ``unknown``."""
        return self.hsa_id or self.name or "unknown"

    @property
    def label(self) -> str:
        if self.hsa_id and self.name:
            return f"{self.name} ({self.hsa_id})"
        return self.key


@dataclass(frozen=True)
class NoticeDelivery(_InUtc):
    """One recipient of a notice. ``receipted_at`` is a positive receipt only."""

    destination: str
    delivered_at: datetime | None = None
    receipted_at: datetime | None = None
    receipt_expected: bool = True

    @property
    def receipt_done_at(self) -> datetime | None:
        """When the receipt step was done: a destination that sends no receipts is done on
        delivery."""
        if not self.receipt_expected:
            return self.delivered_at
        return self.receipted_at


@dataclass(frozen=True)
class Notice(_InUtc):
    """A notice that crossed the bridge: what it said and how far it got.

    ``sent_at`` is when the bridge accepted it from the sender, the evidence of sending the law
    relies on. ``occurred_at`` is when the sender says the event happened (e.g. the doctor's
    judgement); the encounter times are what the notice says about the stay.
    """

    message_id: str
    event: EventCode
    sent_at: datetime
    occurred_at: datetime | None = None
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    unit: Unit | None = None
    class_code: str | None = None
    admission_type: str | None = None
    care_needs: bool = False
    """The notice carries a care needs assessment (a municipal need)."""
    parties: frozenset[str] = frozenset()
    deliveries: tuple[NoticeDelivery, ...] = ()

    def done_at(self, step: Step) -> datetime | None:
        """When the notice reached ``step`` with every recipient (None: not yet, or none)."""
        if step is Step.SENT:
            return self.sent_at
        if not self.deliveries:
            return None
        times = [
            d.delivered_at if step is Step.DELIVERED else d.receipt_done_at for d in self.deliveries
        ]
        if any(time is None for time in times):
            return None
        return max(time for time in times if time is not None)

    def delivery(self, destination: str) -> NoticeDelivery | None:
        for delivery in self.deliveries:
            if delivery.destination == destination:
                return delivery
        return None


@dataclass(frozen=True)
class Period(_InUtc):
    """A home-care enrolment as one system reports it: from ``start`` until ``end`` (open)."""

    system: str
    start: datetime
    end: datetime | None = None
    unit: Unit | None = None
    patient_key: str = ""

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and (self.end is None or self.end > start)


@dataclass(frozen=True)
class DischargeReady:
    """One discharge-ready notice and, if it was withdrawn, when."""

    notice: Notice
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class EpisodeState:
    """Where a stay stands after its notices, in the order they were sent."""

    status: EpisodeStatus
    admitted_at: datetime | None
    discharged_at: datetime | None
    cancelled_at: datetime | None
    admitting_unit: Unit | None
    unit: Unit | None
    class_code: str | None
    admission: Notice | None
    discharge: Notice | None
    discharge_ready: tuple[DischargeReady, ...]
    parties: frozenset[str]
    admission_type: str | None = None

    @property
    def ready_in_effect(self) -> DischargeReady | None:
        """The latest discharge-ready notice if it has not been withdrawn."""
        if self.discharge_ready and self.discharge_ready[-1].withdrawn_at is None:
            return self.discharge_ready[-1]
        return None


@dataclass(frozen=True)
class EpisodeFacts:
    """Everything the deadline rules and the indicators need to know about one stay."""

    episode_id: str
    notices: tuple[Notice, ...]
    patient_key: str = ""
    birth_date: date | None = None
    primary_care_unit: Unit | None = None
    home_care: tuple[Period, ...] = ()

    @cached_property
    def state(self) -> EpisodeState:
        return fold(self.notices)

    def of(self, events: Iterable[EventCode]) -> list[Notice]:
        """The notices of these kinds, in the order they were sent."""
        wanted = frozenset(events)
        return [notice for notice in ordered(self.notices) if notice.event in wanted]

    def home_care_at(self, moment: datetime) -> bool:
        return any(period.covers(moment) for period in self.home_care)

    def municipal_need_at(self, moment: datetime) -> bool:
        """Enrolled in home care at ``moment``, or a notice sent by then states care needs."""
        return self.home_care_at(moment) or any(
            notice.care_needs and notice.sent_at <= moment for notice in self.notices
        )

    @property
    def receivers(self) -> tuple[str, ...]:
        """Every destination any notice of the stay went to, in first-seen order."""
        names = [d.destination for notice in ordered(self.notices) for d in notice.deliveries]
        return tuple(dict.fromkeys(names))


def ordered(notices: Iterable[Notice]) -> list[Notice]:
    return sorted(notices, key=lambda notice: notice.sent_at)


def fold(notices: Iterable[Notice]) -> EpisodeState:
    """Read the notices in the order they were sent into the state of the stay."""
    admitted_at: datetime | None = None
    admission: Notice | None = None
    discharge: Notice | None = None
    cancelled_at: datetime | None = None
    admitting_unit: Unit | None = None
    unit: Unit | None = None
    class_code: str | None = None
    admission_type: str | None = None
    ready: list[DischargeReady] = []
    parties: set[str] = set()
    for notice in ordered(notices):
        admitted_at = admitted_at or notice.admitted_at
        unit = notice.unit or unit
        admitting_unit = admitting_unit or notice.unit
        class_code = class_code or notice.class_code
        admission_type = admission_type or notice.admission_type
        if notice.event in SIP_EVENTS:
            parties |= notice.parties
        match notice.event:
            case EventCode.ADMISSION:
                admission = admission or notice
                admitted_at = admitted_at or notice.occurred_at or notice.sent_at
                cancelled_at = None
            case EventCode.ADMISSION_CANCELLED:
                cancelled_at = notice.sent_at
            case EventCode.DISCHARGE_READY:
                ready.append(DischargeReady(notice))
            case EventCode.DISCHARGE_READY_WITHDRAWN if ready and ready[-1].withdrawn_at is None:
                ready[-1] = DischargeReady(ready[-1].notice, notice.sent_at)
            case EventCode.DISCHARGE:
                discharge = notice
            case EventCode.DISCHARGE_CANCELLED:
                discharge = None
            case EventCode.TRANSFER:
                unit = notice.unit or unit
    discharged_at = None
    if discharge is not None:
        discharged_at = discharge.discharged_at or discharge.occurred_at or discharge.sent_at
    status = EpisodeStatus.OPEN
    if cancelled_at is not None:
        status = EpisodeStatus.CANCELLED
    elif discharged_at is not None:
        status = EpisodeStatus.DISCHARGED
    return EpisodeState(
        status=status,
        admitted_at=admitted_at,
        discharged_at=discharged_at,
        cancelled_at=cancelled_at,
        admitting_unit=admitting_unit,
        unit=unit,
        class_code=class_code,
        admission_type=admission_type,
        admission=admission,
        discharge=discharge,
        discharge_ready=tuple(ready),
        parties=frozenset(parties),
    )


def local_date(moment: datetime) -> date:
    """The Swedish calendar date of an instant."""
    return moment.astimezone(STOCKHOLM).date()


def age_on(birth_date: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)
