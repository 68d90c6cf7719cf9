"""A month of two wards' care-transition traffic, with realistic lateness. Pure and seeded.

:func:`generate` plays Visby lasarett's medical and orthopaedic wards for one calendar month
(plus the week before, so stays run into it, and the follow-up after, for readmissions), and
Treserva and TakeCare reporting home-care enrolments. It returns every message as a canonical
event with the moment it is sent (:class:`Send`), and — for notices that reach Treserva — how
Treserva answers: a receipt after some minutes, a late receipt, or nothing (the silent drop).

Times are UTC: Python adds to and subtracts ``ZoneInfo`` times by the wall clock, which is an
hour off across a daylight-saving change (the end-to-end test found exactly that in an earlier
version of this generator). Its own log is the sends themselves, plus :class:`StayLog` and
:class:`EnrolmentLog`: what the simulated ward and municipality did, in their own terms. The
end-to-end test counts the indicators from this log independently of the bridge.

Intended for the TakeCare simulator (adapters/takecare_sim, another engineer's) to play over
MLLP/HTTP; it has no I/O so it can be moved there as it is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bridge.domain.identifiers import IdentifierKind, luhn_check_digit
from bridge.domain.indicators import Month
from bridge.domain.model import (
    CareTransitionEvent,
    CareUnit,
    Encounter,
    EventCode,
    HomeCareEnrolment,
    HumanName,
    MessageOrigin,
    Participant,
    Patient,
    PatientIdentifier,
    ResponsibleParty,
    SipMeeting,
)

TAKECARE = "TakeCare"
TAKECARE_FACILITY = "VISBY-LASARETT"
TRESERVA = "Treserva"
TRESERVA_FACILITY = "REGION-GOTLAND-SOF"

WARDS = (
    CareUnit(hsa_id="SE2321000222-7M05", name="Avd 5 Medicin", code="M5"),
    CareUnit(hsa_id="SE2321000222-7O09", name="Avd 9 Ortopedi", code="O9"),
)
VARDCENTRALER = (
    CareUnit(hsa_id="SE2321000222-5VN1", name="Vårdcentral Visby Norr"),
    CareUnit(hsa_id="SE2321000222-5HE1", name="Vårdcentral Hemse"),
)
HOME_CARE_UNITS = (
    CareUnit(hsa_id="SE2120000803-HSV1", name="Hemsjukvård Visby"),
    CareUnit(hsa_id="SE2120000803-HSV2", name="Hemsjukvård Södra Gotland"),
)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Send:
    """One message a system sends at ``at``; ``receipt_after`` is how Treserva answers it."""

    at: datetime
    event: CareTransitionEvent
    system: str
    receipt_after: timedelta | None = None

    @property
    def message_id(self) -> str:
        return self.event.origin.message_id


_READMISSION_MIX: tuple[tuple[str | None, str] | None, ...] = (
    ("emergency", "EMER"),
    ("elective", "EMER"),
    ("urgent", "IMP"),
    (None, "EMER"),
    ("elective", "IMP"),
    ("accident", "IMP"),
)
_FIRST_STAY_MIX: tuple[tuple[str | None, str] | None, ...] = (
    None,
    ("elective", "IMP"),
    ("emergency", "IMP"),
    None,
)


@dataclass
class StayLog:
    """One stay as the ward lived it."""

    personnummer: str
    birth_date: date
    ward: CareUnit
    visit_number: str
    class_code: str
    admitted_at: datetime
    admission_sent: datetime | None = None
    cancelled: bool = False
    ready_sent: list[datetime] = field(default_factory=list)
    withdrawn: list[datetime] = field(default_factory=list)
    sip_sent: datetime | None = None
    discharged_at: datetime | None = None
    discharge_sent: datetime | None = None
    notices: list[Send] = field(default_factory=list)
    admission_type: str | None = None


@dataclass(frozen=True)
class EnrolmentLog:
    personnummer: str
    system: str
    unit: CareUnit
    start: datetime
    end: datetime | None


@dataclass
class WardMonth:
    month: Month
    sends: list[Send]
    stays: list[StayLog]
    enrolments: list[EnrolmentLog]
    ends_at: datetime


@dataclass
class _Person:
    personnummer: str
    birth_date: date
    family: str
    given: str
    primary_care: CareUnit


class _Generator:
    def __init__(self, seed: int, month: Month, admissions: int) -> None:
        self.rng = random.Random(seed)
        self.month = month
        self.admissions = admissions
        self.sends: list[Send] = []
        self.stays: list[StayLog] = []
        self.enrolments: list[EnrolmentLog] = []
        self.used: set[str] = set()
        self.serial = 0
        self.home_care: dict[str, set[str]] = {}

    # --- people -------------------------------------------------------------------------------

    def person(self, old: bool) -> _Person:
        while True:
            year = self.rng.randint(1925, 1958) if old else self.rng.randint(1962, 1995)
            born = date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))
            serial = f"98{self.rng.randint(0, 9)}"
            nine = f"{born:%y%m%d}{serial}"
            number = f"{born:%Y%m%d}{serial}{luhn_check_digit(nine)}"
            if number not in self.used:
                self.used.add(number)
                break
        return _Person(
            number,
            born,
            self.rng.choice(("Andersson", "Karlsson", "Nilsson", "Gotländing", "Lindqvist")),
            self.rng.choice(("Anna", "Erik", "Maja", "Olof", "Ingrid", "Gustav")),
            self.rng.choice(VARDCENTRALER),
        )

    def patient(self, person: _Person) -> Patient:
        return Patient(
            identifiers=(
                PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value=person.personnummer),
            ),
            name=HumanName(family=person.family, given=(person.given,)),
            birth_date=person.birth_date,
            gender=self.rng.choice(("male", "female")),
            primary_care_unit=person.primary_care,
        )

    # --- messages -----------------------------------------------------------------------------

    def send(
        self,
        at: datetime,
        code: EventCode,
        person: _Person,
        *,
        system: str = TAKECARE,
        occurred: datetime | None = None,
        encounter: Encounter | None = None,
        stay: StayLog | None = None,
        **parts: object,
    ) -> Send:
        self.serial += 1
        facility = TAKECARE_FACILITY if system == TAKECARE else TRESERVA_FACILITY
        event = CareTransitionEvent(
            event=code,
            origin=MessageOrigin(
                sending_application=system,
                sending_facility=facility,
                message_id=f"WM{self.serial:06d}",
                sent_at=at,
            ),
            occurred_at=occurred or at,
            patient=self.patient(person),
            encounter=encounter,
            **parts,  # type: ignore[arg-type]
        )
        receipt = self.receipt_after() if system == TAKECARE else None
        sent = Send(at, event, system, receipt)
        self.sends.append(sent)
        if stay is not None:
            stay.notices.append(sent)
        return sent

    def receipt_after(self) -> timedelta | None:
        """Treserva: usually minutes, sometimes hours late, now and then never (silent drop)."""
        draw = self.rng.random()
        if draw < 0.05:
            return None
        if draw < 0.10:
            return timedelta(hours=self.rng.uniform(4.1, 30))
        return timedelta(minutes=self.rng.uniform(1, 60))

    # --- home care ----------------------------------------------------------------------------

    def enrol(self, person: _Person, start: datetime) -> None:
        """Treserva enrols most; TakeCare knows most of those and a few it alone counts."""
        unit = self.rng.choice(HOME_CARE_UNITS)
        systems = set()
        draw = self.rng.random()
        if draw < 0.80:
            systems = {TRESERVA, TAKECARE}
        elif draw < 0.93:
            systems = {TRESERVA}
        else:
            systems = {TAKECARE}
        self.home_care[person.personnummer] = systems
        for system in sorted(systems):
            reported = self.month.start.astimezone(UTC) - 7 * DAY
            reported += timedelta(minutes=self.rng.randint(1, 600))
            enrolment = HomeCareEnrolment(
                episode_id=f"HC-{system[:2]}-{person.personnummer[-6:]}",
                status="active",
                start=start,
                managing_unit=unit,
            )
            self.send(
                reported,
                EventCode.HOMECARE_ENROLMENT_STARTED,
                person,
                system=system,
                occurred=start,
                home_care=enrolment,
            )
            self.enrolments.append(EnrolmentLog(person.personnummer, system, unit, start, None))

    # --- stays --------------------------------------------------------------------------------

    def stay(self, person: _Person, admitted: datetime, class_code: str, readmission: bool) -> None:
        ward = self.rng.choice(WARDS)
        visit = f"V{len(self.stays) + 1:05d}"
        # PV1-4 / Encounter.priority, mixed and drawn without the rng (the rest of the month
        # stays as it was): a readmission's type may contradict its class (the type wins).
        mix = _READMISSION_MIX if readmission else _FIRST_STAY_MIX
        admission_type, class_code = mix[len(self.stays) % len(mix)] or (None, class_code)
        log = StayLog(person.personnummer, person.birth_date, ward, visit, class_code, admitted)
        log.admission_type = admission_type
        self.stays.append(log)
        encounter = Encounter(
            visit_number=visit,
            class_code=class_code,
            admission_type=admission_type,  # type: ignore[arg-type]
            admitted_at=admitted,
            unit=ward,  # type: ignore[arg-type]
        )
        draw = self.rng.random()
        if draw < 0.05:
            first_sent = None  # never sent: the stay is first seen at its discharge-ready notice
        elif draw < 0.17:
            first_sent = admitted + timedelta(hours=self.rng.uniform(24.05, 60))
        else:
            first_sent = admitted + timedelta(minutes=self.rng.uniform(5, 20 * 60))
        if first_sent is not None:
            log.admission_sent = first_sent
            self.send(
                first_sent,
                EventCode.ADMISSION,
                person,
                occurred=admitted,
                encounter=encounter,
                stay=log,
            )
        if first_sent is not None and self.rng.random() < 0.04:
            cancelled = first_sent + timedelta(minutes=self.rng.uniform(30, 180))
            log.cancelled = True
            self.send(
                cancelled, EventCode.ADMISSION_CANCELLED, person, encounter=encounter, stay=log
            )
            return
        start = max(first_sent or admitted, admitted) + HOUR
        length = timedelta(hours=self.rng.uniform(40, 12 * 24))
        discharged = max(admitted + length, start + 6 * HOUR)
        if self.rng.random() < 0.5:
            estimate = encounter.model_copy(update={"estimated_discharge": discharged})
            self.send(
                start, EventCode.ESTIMATED_DISCHARGE_CHANGED, person, encounter=estimate, stay=log
            )
        ready = self.ready_notices(log, person, encounter, start, discharged)
        self.sip(log, person, encounter, ready)
        delay = timedelta(hours=self.rng.uniform(0.1, 6)) if self.rng.random() < 0.9 else DAY
        sent = discharged + delay
        log.discharged_at, log.discharge_sent = discharged, sent
        done = encounter.model_copy(update={"discharged_at": discharged})
        self.send(sent, EventCode.DISCHARGE, person, occurred=discharged, encounter=done, stay=log)
        if not readmission and person.birth_date.year < 1960 and self.rng.random() < 0.2:
            back = discharged + timedelta(days=self.rng.uniform(1, 40))
            self.stay(person, back, "EMER", readmission=True)

    def ready_notices(
        self,
        log: StayLog,
        person: _Person,
        encounter: Encounter,
        start: datetime,
        discharged: datetime,
    ) -> datetime | None:
        """Discharge-ready (sometimes withdrawn and sent again); the notice in force, if any."""
        if self.rng.random() < 0.12:
            return None
        ready = max(start, discharged - timedelta(hours=self.rng.uniform(2, 96)))
        if self.rng.random() < 0.1 and ready + 30 * HOUR < discharged - HOUR:
            log.ready_sent.append(ready)
            self.send(ready, EventCode.DISCHARGE_READY, person, encounter=encounter, stay=log)
            withdrawn = ready + timedelta(hours=self.rng.uniform(2, 20))
            log.withdrawn.append(withdrawn)
            self.send(
                withdrawn,
                EventCode.DISCHARGE_READY_WITHDRAWN,
                person,
                encounter=encounter,
                stay=log,
            )
            ready = withdrawn + timedelta(hours=self.rng.uniform(1, 8))
        log.ready_sent.append(ready)
        self.send(ready, EventCode.DISCHARGE_READY, person, encounter=encounter, stay=log)
        return ready

    def sip(
        self, log: StayLog, person: _Person, encounter: Encounter, ready: datetime | None
    ) -> None:
        """Home-care patients get a SIP invitation: mostly within 3 days, some late, some never."""
        if ready is None or person.personnummer not in self.home_care:
            return
        draw = self.rng.random()
        if draw < 0.1:
            return
        hours = self.rng.uniform(0.5, 70) if draw < 0.8 else self.rng.uniform(73, 140)
        sent = ready + timedelta(hours=hours)
        meeting = SipMeeting(
            appointment_id=f"SIP-{log.visit_number}",
            start=sent + 2 * DAY,
            end=sent + 2 * DAY + HOUR,
            location="Visby lasarett, konferensrum 2",
            participants=(
                Participant(
                    kind="unit",
                    name=person.primary_care.name,
                    hsa_id=person.primary_care.hsa_id,
                    role="fast vårdkontakt",
                    party=ResponsibleParty.REGION,
                ),
                Participant(
                    kind="unit",
                    name="Hemsjukvård Visby",
                    hsa_id="SE2120000803-HSV1",
                    role="hemsjukvård",
                    party=ResponsibleParty.MUNICIPALITY,
                ),
            ),
        )
        log.sip_sent = sent
        self.send(
            sent,
            EventCode.SIP_MEETING_BOOKED,
            person,
            encounter=encounter,
            stay=log,
            sip_meeting=meeting,
        )

    def run(self) -> WardMonth:
        people = [self.person(old=self.rng.random() < 0.75) for _ in range(self.admissions)]
        for person in people:
            if person.birth_date.year < 1960 and self.rng.random() < 0.45:
                since = timedelta(days=self.rng.randint(20, 400))
                self.enrol(person, self.month.start.astimezone(UTC) - since)
        first = self.month.start.astimezone(UTC) - 7 * DAY
        span = (self.month.end - first).total_seconds()
        for person in people:
            admitted = first + timedelta(seconds=self.rng.uniform(0, span))
            self.stay(person, admitted.astimezone(UTC), "IMP", readmission=False)
        self.sends.sort(key=lambda send: (send.at, send.message_id))
        ends = max(send.at for send in self.sends) + 2 * DAY
        return WardMonth(self.month, self.sends, self.stays, self.enrolments, ends)


def generate(month: Month, *, seed: int = 6, admissions: int = 60) -> WardMonth:
    """A month of two wards' traffic, reproducible from ``seed``."""
    return _Generator(seed, month, admissions).run()
