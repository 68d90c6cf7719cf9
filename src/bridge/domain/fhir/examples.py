"""Example events with synthetic persons, for the published examples, tests and benchmarks.

191212121212 (Tolvan Tolvansson) is Skatteverket's well-known test personnummer; the
samordningsnummer and HSA-ids are made up. No real person is described here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
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

EXAMPLE_BUNDLE_ID = "3f6d2a9e-4b1c-4f7a-9d2e-0c5b8a1e7f10"
EXAMPLE_IDEMPOTENCY_KEY = "9b2e4c1a-7d3f-4e8b-a6c5-1f0e2d3c4b5a"
EXAMPLE_NOW = datetime(2025, 3, 3, 9, 0, 5, tzinfo=UTC)
EXAMPLE_ROUTE = {
    "source_name": "bridge",
    "source_endpoint": "http://bridge.gotland.example/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.gotland.example/fhir",
}


def _local(hour: int, minute: int, day: int = 3) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=ZoneInfo("Europe/Stockholm"))


def admission_example() -> CareTransitionEvent:
    """An inskrivningsmeddelande for Tolvan Tolvansson, admitted to a medical ward in Visby."""
    return CareTransitionEvent(
        event=EventCode.ADMISSION,
        origin=MessageOrigin(
            sending_application="TakeCare",
            sending_facility="SE2321000230-HSF",
            message_id="TC20250303095512",
            sent_at=_local(9, 55),
            hl7_version="2.5",
        ),
        occurred_at=_local(9, 40),
        patient=Patient(
            identifiers=(
                PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212121212"),
            ),
            name=HumanName(family="Tolvansson", given=("Tolvan",)),
            birth_date=datetime(1912, 12, 12).date(),
            gender="male",
            address=Address(
                lines=("Storgatan 1",), postal_code="62155", city="Visby", country="SE"
            ),
            primary_care_unit=CareUnit(hsa_id="SE2321000230-VC01", name="Visby vårdcentral"),
        ),
        encounter=Encounter(
            visit_number="V2025-000123",
            class_code="IMP",
            admitted_at=_local(8, 15),
            unit=CareUnit(hsa_id="SE2321000230-MAVD", name="Medicinavdelning 3, Visby lasarett"),
            estimated_discharge=_local(12, 0, day=7),
        ),
        admission_info=AdmissionInformation(
            reason_for_admission="Fall i hemmet, höftfraktur",
            housing_situation="Bor ensam i lägenhet, två trappor utan hiss",
            social_situation="Dotter i Stockholm, hemtjänst tre gånger dagligen",
            care_needs_assessment="Behöver hjälp vid förflyttning och personlig hygien",
        ),
    )


def protected_person_example() -> CareTransitionEvent:
    """An admission for a person with skyddad folkbokföring: the address must never leave."""
    admission = admission_example()
    patient = Patient(
        identifiers=(
            PatientIdentifier(kind=IdentifierKind.SAMORDNINGSNUMMER, value="195509742382"),
        ),
        name=HumanName(family="Skyddad", given=("Sara",)),
        birth_date=datetime(1955, 9, 14).date(),
        gender="female",
        address=Address(lines=("Hemlig väg 7",), postal_code="62141", city="Visby"),
        security_labels=frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING}),
    )
    origin = admission.origin.model_copy(update={"message_id": "TC20250303101544"})
    return admission.model_copy(update={"patient": patient, "origin": origin})


_TOLVAN = PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212121212")
_WARD = CareUnit(
    hsa_id="SE2321000230-MAVD", name="Medicinavdelning 3, Visby lasarett", code="MAVD3"
)
_HOME_CARE_UNIT = CareUnit(
    hsa_id="SE2321000230-HSJV", name="Hemsjukvården Visby", code="HSJV-VISBY"
)


def _notice(event: EventCode, message_id: str, **parts: object) -> CareTransitionEvent:
    """The admission example's origin, time and patient, as another event with its parts."""
    base = admission_example()
    origin = base.origin.model_copy(update={"message_id": message_id})
    return CareTransitionEvent.model_validate(
        {"event": event, "origin": origin, "occurred_at": base.occurred_at,
         "patient": base.patient, **parts}
    )  # fmt: skip


def _stay(**changes: object) -> Encounter:
    encounter = admission_example().encounter
    assert encounter is not None
    return encounter.model_copy(update={"unit": _WARD, **changes})


def _team() -> tuple[Participant, ...]:
    return (
        Participant(
            kind="unit", name="Hemsjukvården Visby", hsa_id="SE2321000230-HSJV",
            role="Hemsjukvård", party=ResponsibleParty.MUNICIPALITY,
        ),
        Participant(
            kind="person", name="Vera Vårdkontakt", hsa_id="SE2321000230-P0042",
            role="Fast vårdkontakt", party=ResponsibleParty.REGION,
        ),
        Participant(
            kind="person", name="Bengt Bistånd", role="Biståndshandläggare",
            party=ResponsibleParty.MUNICIPALITY,
        ),
    )  # fmt: skip


def sip_meeting_example(event: EventCode = EventCode.SIP_MEETING_BOOKED) -> CareTransitionEvent:
    """A SIP meeting at Visby lasarett three days after the discharge-ready notice."""
    cancelled = event is EventCode.SIP_MEETING_CANCELLED
    day = 7 if event is EventCode.SIP_MEETING_MOVED else 6
    meeting = SipMeeting(
        appointment_id="SIP-2025-0042",
        status="cancelled" if cancelled else "booked",
        start=_local(13, 0, day=day),
        end=_local(14, 0, day=day),
        location="Visby lasarett, konferensrum 2",
        participants=_team(),
    )
    return _notice(event, f"TC-SIU-{event.value}", encounter=_stay(), sip_meeting=meeting)


def sip_plan_example(event: EventCode = EventCode.SIP_PLAN_ESTABLISHED) -> CareTransitionEvent:
    """A SIP agreed by region and municipality, with the person's consent."""
    closed = event is EventCode.SIP_PLAN_CLOSED
    plan = SipPlan(
        plan_id="SIP-PLAN-2025-0007",
        status="completed" if closed else "active",
        overall_responsible=ResponsibleParty.MUNICIPALITY,
        interventions=(
            SipIntervention(
                description="Läkemedelsgenomgång efter utskrivning",
                responsible=ResponsibleParty.REGION,
                performer=CareUnit(hsa_id="SE2321000230-VC01", name="Visby vårdcentral"),
            ),
            SipIntervention(
                description="Hemtjänst tre gånger dagligen och trygghetslarm",
                responsible=ResponsibleParty.MUNICIPALITY,
                performer=_HOME_CARE_UNIT,
            ),
            SipIntervention(
                description="Dottern handlar och följer med på återbesök",
                responsible=ResponsibleParty.OTHER,
            ),
        ),
        care_team=_team(),
        consent=SipConsent(status="given", recorded_at=_local(13, 20, day=6)),
    )
    return _notice(event, f"TC-SIP-{event.value}", sip_plan=plan)


def home_care_example(
    event: EventCode = EventCode.HOMECARE_ENROLMENT_STARTED,
) -> CareTransitionEvent:
    """Treserva enrols Tolvan in hemsjukvården the day after his discharge (and ends it)."""
    ended = event is EventCode.HOMECARE_ENROLMENT_ENDED
    enrolment = HomeCareEnrolment(
        episode_id="HSJV-2025-0113",
        status="finished" if ended else "active",
        start=_local(10, 0, day=8),
        end=_local(16, 0, day=28) if ended else None,
        managing_unit=_HOME_CARE_UNIT,
    )
    origin = MessageOrigin(
        sending_application="Treserva",
        sending_facility="SE2321000230-SOF",
        message_id=f"TRS-{event.value}",
        sent_at=_local(10, 5, day=28 if ended else 8),
        hl7_version="2.5",
    )
    return _notice(event, origin.message_id, home_care=enrolment).model_copy(
        update={"origin": origin}
    )


def order_example(event: EventCode = EventCode.HOMECARE_ORDER) -> CareTransitionEvent:
    """The ward orders hemsjukvård for Tolvan before his discharge; home care asks for more
    information (docs/orders.md). An order has no event time (REF/RRI carry no EVN)."""
    answered = event is EventCode.HOMECARE_ORDER_ANSWERED
    order = HomeCareOrder(
        order_id="ORD-2025-000117",
        status="on-hold" if answered else "requested",
        requester=_WARD,
        performer=_HOME_CARE_UNIT,
        description="Såromläggning höger underben tre gånger i veckan",
        authored_at=_local(8, 40, day=5),
        reason="Ange förbandsmaterial och om patienten kan ta sig till vårdcentralen"
        if answered
        else None,
    )
    return _notice(event, f"TC-{event.value}", order=order).model_copy(update={"occurred_at": None})


def merge_example() -> CareTransitionEvent:
    """A local TakeCare reservnummer replaced by Tolvan's personnummer."""
    prior = PatientIdentifier(
        kind=IdentifierKind.LOKALT_RESERVNUMMER, value="RN-980001", assigner="1.2.752.97.3.1"
    )
    return _notice(EventCode.PATIENT_MERGE, "TC-A40-1", merge=PatientMerge(prior_identifier=prior))


def demographics_example() -> CareTransitionEvent:
    """An ADT^A08 without PV2-9: the admission example's patient has moved and has a new
    telephone number (a Patient focus)."""
    patient = admission_example().patient
    assert patient is not None
    moved = Address(lines=("Norra Murgatan 12",), postal_code="62155", city="Visby", country="SE")
    phone = ContactPoint(system="phone", value="0498-123456", use="home")
    return _notice(
        EventCode.PATIENT_DEMOGRAPHICS_CHANGED,
        "TC-A08-1",
        patient=patient.model_copy(update={"address": moved, "telecom": (phone,)}),
    )


def receipt_example(code: str = "ok") -> CareTransitionEvent:
    """Treserva confirms a notice is in its worklist."""
    return CareTransitionEvent.model_validate(
        {
            "event": EventCode.RECEIPT,
            "origin": MessageOrigin(
                sending_application="Treserva",
                sending_facility="treserva",
                message_id="TRS-RCPT-0001",
                sent_at=_local(10, 1),
            ),
            "receipt": Receipt(
                responds_to="6a1e7e0c-3b0f-5d2e-9d57-2f7a3c1b9e11",
                code=code,
                text=None if code == "ok" else "Mottagaren kunde inte arkivera meddelandet",
            ),
        }
    )


def _adt_example(event: EventCode) -> CareTransitionEvent:
    base = admission_example()
    encounter = _stay()
    if event is EventCode.DISCHARGE:
        encounter = _stay(discharged_at=_local(11, 30, day=7))
    elif event is EventCode.TRANSFER:
        encounter = _stay(
            unit=CareUnit(hsa_id="SE2321000230-KIR2", name="Kirurgavdelning 2", code="KIR2")
        )
    info = base.admission_info if event is EventCode.ADMISSION else None
    return _notice(event, f"TC-{event.value}", encounter=encounter, admission_info=info)


def example_event(event: EventCode) -> CareTransitionEvent:
    """One synthetic example of every event the bridge carries."""
    if event in (
        EventCode.SIP_MEETING_BOOKED, EventCode.SIP_MEETING_MOVED, EventCode.SIP_MEETING_CANCELLED,
    ):  # fmt: skip
        return sip_meeting_example(event)
    if event in (
        EventCode.SIP_PLAN_ESTABLISHED, EventCode.SIP_PLAN_UPDATED, EventCode.SIP_PLAN_CLOSED,
    ):  # fmt: skip
        return sip_plan_example(event)
    if event in (EventCode.HOMECARE_ENROLMENT_STARTED, EventCode.HOMECARE_ENROLMENT_ENDED):
        return home_care_example(event)
    if event in (EventCode.HOMECARE_ORDER, EventCode.HOMECARE_ORDER_ANSWERED):
        return order_example(event)
    if event is EventCode.PATIENT_MERGE:
        return merge_example()
    if event is EventCode.RECEIPT:
        return receipt_example()
    if event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED:
        return demographics_example()
    return _adt_example(event)
