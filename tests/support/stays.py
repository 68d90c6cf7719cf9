"""Builders for care episodes as plain values: times in Europe/Stockholm wall-clock text."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from bridge.domain.episodes import (
    STOCKHOLM,
    EpisodeFacts,
    Notice,
    NoticeDelivery,
    Period,
    Unit,
)
from bridge.domain.model import EventCode

WARD = Unit("SE2321000222-W5", "Avd 5 Medicin")
VARDCENTRAL = Unit("SE2321000222-VC1", "Vårdcentral Visby Norr")
_ids = count(1)


def at(text: str) -> datetime:
    """``2025-03-29 12:00`` Stockholm local time; ``+01:00``/``+02:00`` picks the hour of an
    autumn clock change (``2025-10-26 02:30+02:00``)."""
    if text.endswith(("+01:00", "+02:00")):
        return datetime.fromisoformat(text.replace(" ", "T")).astimezone(STOCKHOLM)
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


def notice(
    event: EventCode,
    sent: datetime,
    *,
    admitted: datetime | None = None,
    discharged: datetime | None = None,
    delivered: datetime | bool | None = True,
    receipted: datetime | bool | None = True,
    destinations: tuple[str, ...] = ("treserva",),
    receipt_expected: bool = True,
    parties: frozenset[str] = frozenset(),
    unit: Unit | None = WARD,
    class_code: str | None = "IMP",
    admission_type: str | None = None,
    care_needs: bool = False,
) -> Notice:
    """A notice; ``delivered``/``receipted`` True means at the moment it was sent."""
    delivered_at = sent if delivered is True else (delivered or None)
    receipted_at = delivered_at if receipted is True else (receipted or None)
    deliveries = tuple(
        NoticeDelivery(name, delivered_at, receipted_at, receipt_expected) for name in destinations
    )
    return Notice(
        message_id=f"m{next(_ids)}",
        event=event,
        sent_at=sent,
        admitted_at=admitted,
        discharged_at=discharged,
        unit=unit,
        class_code=class_code,
        admission_type=admission_type,
        care_needs=care_needs,
        parties=parties,
        deliveries=deliveries,
    )


def stay(
    *notices: Notice,
    home_care: bool = False,
    patient_key: str = "p1",
    birth: str | None = None,
) -> EpisodeFacts:
    periods = ()
    if home_care:
        periods = (Period("treserva", at("2020-01-01 00:00"), None, patient_key=patient_key),)
    return EpisodeFacts(
        episode_id=f"e{next(_ids)}",
        notices=notices,
        patient_key=patient_key,
        birth_date=datetime.fromisoformat(birth).date() if birth else None,
        primary_care_unit=VARDCENTRAL,
        home_care=periods,
    )


MINUTE = timedelta(minutes=1)
