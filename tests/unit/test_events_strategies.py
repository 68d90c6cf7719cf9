"""Hypothesis strategies for canonical events of every type, shared by the test_events_* and
the FHIR/HL7 property tests; the tests here check the strategies themselves.

Text is what both formats carry unchanged: trimmed, not empty, any letters, digits, punctuation
and symbols (delimiters and escape characters included). ``events("hl7")`` keeps to what HL7 v2
has a place for (docs/mapping.md): no SIP plans, no ``occurred_at`` on SIU or ACK, no stay on a
home-care enrolment or an order, no ward code on the primary care unit.
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.domain.identifiers import IdentifierKind, luhn_check_digit, mask_in_text
from bridge.domain.model import (
    EXPECTED_STATUS,
    REQUIRED_PART,
    Address,
    AdmissionInformation,
    CareTransitionEvent,
    CareUnit,
    ContactPoint,
    Encounter,
    EventCode,
    HomeCareEnrolment,
    HomeCareOrder,
    HumanName,
    MessageOrigin,
    Participant,
    Patient,
    PatientIdentifier,
    PatientMerge,
    Receipt,
    ResponsibleParty,
    SecurityLabel,
    SipConsent,
    SipIntervention,
    SipMeeting,
    SipPlan,
)

Format = Literal["hl7", "fhir"]
VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"]
SIP_PLAN_EVENTS = frozenset(code for code, part in REQUIRED_PART.items() if part == "sip_plan")
HL7_EVENTS = [
    code for code in EventCode if code not in SIP_PLAN_EVENTS and code.value != "deviation"
]
FHIR_EVENTS = [code for code in EventCode if code.value != "deviation"]

_letters = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S"))
word = st.text(_letters, min_size=1, max_size=10).filter(lambda text: text != '""')
phrase = st.lists(word, min_size=1, max_size=4).map(" ".join)
paragraph = st.lists(phrase, min_size=1, max_size=3).map("\n".join)
short_phrase = phrase.filter(lambda text: len(text) <= 60)
oid = st.lists(st.integers(0, 99999), min_size=1, max_size=6).map(
    lambda arcs: "1." + ".".join(map(str, arcs))
)
zones = st.sampled_from(
    [
        UTC,
        ZoneInfo("Europe/Stockholm"),
        timezone(timedelta(hours=1)),
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=3)),
    ]
)
moments = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2100, 12, 31), timezones=zones
)
fhir_ids = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def person_numbers(draw: st.DrawFn) -> PatientIdentifier:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2023, 12, 31)))
    kind = draw(st.sampled_from([IdentifierKind.PERSONNUMMER, IdentifierKind.SAMORDNINGSNUMMER]))
    day = born.day + (60 if kind is IdentifierKind.SAMORDNINGSNUMMER else 0)
    nine = f"{born:%y%m}{day:02d}{draw(st.integers(0, 999)):03d}"
    return PatientIdentifier(kind=kind, value=f"{born.year // 100}{nine}{luhn_check_digit(nine)}")


reservnummer = st.builds(
    PatientIdentifier,
    kind=st.just(IdentifierKind.NATIONELLT_RESERVNUMMER),
    value=st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=20),
)
local_reservnummer = st.builds(
    PatientIdentifier,
    kind=st.just(IdentifierKind.LOKALT_RESERVNUMMER),
    value=short_phrase,
    assigner=st.none() | oid | phrase,
)
swedish_identifiers = person_numbers() | reservnummer | local_reservnummer
identifiers = st.lists(swedish_identifiers, min_size=1, max_size=3, unique=True).map(tuple)
names = st.builds(
    HumanName, family=phrase, given=st.lists(word, max_size=3).map(tuple)
) | st.builds(HumanName, family=st.none(), given=st.lists(word, min_size=1, max_size=3).map(tuple))
addresses = st.builds(
    Address,
    lines=st.lists(phrase, max_size=2).map(tuple),
    postal_code=st.none() | word,
    city=phrase,
    country=st.none() | word,
) | st.builds(Address, lines=st.lists(phrase, min_size=1, max_size=2).map(tuple))


def units(with_code: bool = True) -> st.SearchStrategy[CareUnit]:
    code = st.none() | word if with_code else st.none()
    return st.builds(CareUnit, hsa_id=word, name=st.none() | phrase, code=code) | st.builds(
        CareUnit, name=phrase, code=code
    )


contact_points = st.builds(
    ContactPoint,
    system=st.sampled_from(["phone", "email"]),
    value=short_phrase,
    use=st.sampled_from(["home", "work"]),
)


def _home_first(contacts: list[ContactPoint]) -> tuple[ContactPoint, ...]:
    """HL7 v2 writes home (PID-13) before work (PID-14): the order that survives both formats."""
    return tuple(sorted(contacts, key=lambda contact: contact.use != "home"))


def patients(fmt: Format) -> st.SearchStrategy[Patient]:
    return st.builds(
        Patient,
        identifiers=identifiers,
        name=st.none() | names,
        birth_date=st.none() | st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
        gender=st.sampled_from([None, "male", "female", "other", "unknown"]),
        address=st.none() | addresses,
        telecom=st.lists(contact_points, max_size=3).map(_home_first),
        security_labels=st.frozensets(st.sampled_from(list(SecurityLabel))),
        primary_care_unit=st.none() | units(with_code=fmt == "fhir"),
    )


encounters = st.builds(
    Encounter,
    visit_number=st.none() | word,
    class_code=st.sampled_from(["IMP", "AMB", "EMER"]),
    admitted_at=st.none() | moments,
    discharged_at=st.none() | moments,
    unit=st.none() | units(),
    estimated_discharge=st.none() | moments,
)
admission_infos = st.builds(
    AdmissionInformation,
    reason_for_admission=st.none() | phrase,
    housing_situation=st.none() | paragraph,
    social_situation=st.none() | paragraph,
    care_needs_assessment=st.none() | paragraph,
).filter(lambda info: any(info.model_dump().values()))
origins = st.builds(
    MessageOrigin,
    sending_application=st.none() | word,
    sending_facility=phrase,
    message_id=short_phrase,
    sent_at=moments,
    hl7_version=st.sampled_from(VERSIONS),
)
parties = st.none() | st.sampled_from(list(ResponsibleParty))


@st.composite
def participant_lists(draw: st.DrawFn) -> tuple[Participant, ...]:
    found = []
    for _ in range(draw(st.integers(0, 4))):
        name, hsa_id, role = draw(optional(phrase)), draw(optional(word)), draw(optional(phrase))
        if name is None and hsa_id is None and role is None:
            role = draw(phrase)
        kind = draw(st.sampled_from(["person", "unit"]))
        found.append(
            Participant(kind=kind, name=name, hsa_id=hsa_id, role=role, party=draw(parties))
        )
    return tuple(found)


@st.composite
def sip_meetings(draw: st.DrawFn, status: str) -> SipMeeting:
    start = draw(moments) if status == "booked" else draw(optional(moments))
    length = draw(st.timedeltas(timedelta(0), timedelta(days=1)))
    end = None if start is None else (start.astimezone(UTC) + length).astimezone(start.tzinfo)
    return SipMeeting(
        appointment_id=draw(word),
        status=status,
        start=start,
        end=end,
        location=draw(optional(phrase)),
        participants=draw(participant_lists()),
    )


@st.composite
def sip_plans(draw: st.DrawFn, statuses: tuple[str, ...]) -> SipPlan:
    interventions = st.builds(
        SipIntervention,
        description=phrase,
        responsible=st.sampled_from(list(ResponsibleParty)),
        performer=st.none() | units(),
    )
    return SipPlan(
        plan_id=draw(word),
        status=draw(st.sampled_from(statuses)),
        overall_responsible=draw(parties),
        interventions=tuple(draw(st.lists(interventions, max_size=3))),
        care_team=draw(participant_lists()),
        consent=draw(
            optional(
                st.builds(
                    SipConsent,
                    status=st.sampled_from(["given", "withdrawn"]),
                    recorded_at=optional(moments),
                )
            )
        ),
    )


def home_cares(status: str) -> st.SearchStrategy[HomeCareEnrolment]:
    return st.builds(
        HomeCareEnrolment,
        episode_id=word,
        status=st.just(status),
        start=optional(moments),
        end=optional(moments),
        managing_unit=st.none() | units(),
    )


@st.composite
def orders(draw: st.DrawFn, statuses: tuple[str, ...]) -> HomeCareOrder:
    status = draw(st.sampled_from(statuses))
    needs_reason = status in ("rejected", "on-hold")
    return HomeCareOrder(
        order_id=draw(word),
        status=status,
        service=draw(st.sampled_from(["hemsjukvard", "hemtjanst"])),
        requester=draw(units()),
        performer=draw(st.none() | units()),
        description=draw(optional(phrase)),
        authored_at=draw(optional(moments)),
        reason=draw(phrase if needs_reason else optional(phrase)),
    )


def receipts(fmt: Format) -> st.SearchStrategy[Receipt]:
    # Personnummer-shaped numbers are masked in every text the bridge writes.
    texts = paragraph.filter(lambda text: mask_in_text(text) == text)
    return st.builds(
        Receipt,
        responds_to=fhir_ids if fmt == "fhir" else short_phrase,
        code=st.sampled_from(["ok", "transient-error", "fatal-error"]),
        text=st.none() | texts,
    )


@st.composite
def events(draw: st.DrawFn, fmt: Format, codes: list[EventCode] | None = None) -> Any:
    """Any canonical event the format can carry completely (see the module docstring)."""
    code = draw(st.sampled_from(codes or (HL7_EVENTS if fmt == "hl7" else FHIR_EVENTS)))
    fields: dict[str, Any] = {"event": code, "origin": draw(origins)}
    if code is EventCode.RECEIPT:
        fields["receipt"] = draw(receipts(fmt))
        if fmt == "fhir":
            fields["occurred_at"] = draw(optional(moments))
        return CareTransitionEvent(**fields)
    fields["patient"] = draw(patients(fmt))
    part = REQUIRED_PART.get(code)
    status = EXPECTED_STATUS.get(code, ("",))
    hl7_siu = fmt == "hl7" and part in ("sip_meeting", "order")  # SIU and REF/RRI: no EVN
    fields["occurred_at"] = None if hl7_siu else draw(optional(moments))
    about_patient = code is EventCode.PATIENT_DEMOGRAPHICS_CHANGED  # no stay (the model says)
    if not (fmt == "hl7" and part in ("home_care", "order")) and not about_patient:
        fields["encounter"] = draw(optional(encounters))
        fields["admission_info"] = draw(optional(admission_infos))
    if code is EventCode.ESTIMATED_DISCHARGE_CHANGED:
        base = fields["encounter"] or Encounter()
        estimated = base.estimated_discharge or draw(moments)
        fields["encounter"] = base.model_copy(update={"estimated_discharge": estimated})
    if part == "merge":
        fields["merge"] = PatientMerge(prior_identifier=draw(swedish_identifiers))
    elif part == "sip_meeting":
        fields["sip_meeting"] = draw(sip_meetings(status[0]))
    elif part == "sip_plan":
        fields["sip_plan"] = draw(sip_plans(status))
    elif part == "home_care":
        fields["home_care"] = draw(home_cares(status[0]))
    elif part == "order":
        fields["order"] = draw(orders(status))
    return CareTransitionEvent(**fields)


# --- the strategies themselves -------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(event=events("fhir"))
def test_fhir_events_carry_the_part_their_kind_needs(event: CareTransitionEvent) -> None:
    part = REQUIRED_PART.get(event.event)
    assert part is None or getattr(event, part) is not None


@settings(max_examples=50, deadline=None)
@given(event=events("hl7"))
def test_hl7_events_are_never_sip_plans(event: CareTransitionEvent) -> None:
    assert event.event not in SIP_PLAN_EVENTS
    assert event.sip_plan is None
