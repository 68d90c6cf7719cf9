"""The canonical model: one care-transition event, whatever format it arrived in.

Every decoder (HL7 v2, FHIR) produces a :class:`CareTransitionEvent`; every encoder consumes one.
Beside the patient and the stay, an event carries the part its kind needs (a SIP meeting, a SIP
plan, a home-care enrolment, a merge or a receipt); :data:`REQUIRED_PART` says which.

Values are normalised on the way in so that a round trip through any format compares equal:
text is stripped (an empty string is None) and times must be timezone-aware and are pinned to
the fixed UTC offset in force at that instant (a ``ZoneInfo`` time in the autumn's repeated
hour never compares equal to another zone's, PEP 495). HL7 v2 times without an offset are read
as Europe/Stockholm.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridge.domain.admission_type import AdmissionType
from bridge.domain.identifiers import (
    NATIONELLT_RESERVNUMMER_SYSTEM,
    OID,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    IdentifierKind,
    mask,
)

EVENT_CODE_SYSTEM = "http://bridge.gotland.example/fhir/CodeSystem/care-transition-event"
SECURITY_LABEL_SYSTEM = "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel"


class EventCode(StrEnum):
    """One code per event the bridge carries (published as a FHIR CodeSystem in schemas/)."""

    ADMISSION = "admission"
    ESTIMATED_DISCHARGE_CHANGED = "estimated-discharge-changed"
    DISCHARGE_READY = "discharge-ready"
    DISCHARGE_READY_WITHDRAWN = "discharge-ready-withdrawn"
    DISCHARGE = "discharge"
    DISCHARGE_CANCELLED = "discharge-cancelled"
    ADMISSION_CANCELLED = "admission-cancelled"
    TRANSFER = "transfer"
    PATIENT_MERGE = "patient-merge"
    SIP_MEETING_BOOKED = "sip-meeting-booked"
    SIP_MEETING_MOVED = "sip-meeting-moved"
    SIP_MEETING_CANCELLED = "sip-meeting-cancelled"
    SIP_PLAN_ESTABLISHED = "sip-plan-established"
    SIP_PLAN_UPDATED = "sip-plan-updated"
    SIP_PLAN_CLOSED = "sip-plan-closed"
    HOMECARE_ENROLMENT_STARTED = "homecare-enrolment-started"
    HOMECARE_ENROLMENT_ENDED = "homecare-enrolment-ended"
    RECEIPT = "receipt"
    DEVIATION = "deviation"
    PATIENT_DEMOGRAPHICS_CHANGED = "patient-demographics-changed"
    HOMECARE_ORDER = "homecare-order"
    HOMECARE_ORDER_ANSWERED = "homecare-order-answered"


class SecurityLabel(StrEnum):
    """Protected identity (HL7 Sweden). The two are distinct and both hide the address."""

    SEKRETESSMARKERING = "sekretessmarkering"
    SKYDDAD_FOLKBOKFORING = "skyddadFolkbokforing"


class ResponsibleParty(StrEnum):
    """Which huvudman (responsible authority) answers for something in a SIP."""

    REGION = "region"
    MUNICIPALITY = "municipality"
    OTHER = "other"


def normalise_text(value: Any) -> Any:
    """Strip text; an empty string is None (FHIR has no empty strings, HL7 no difference)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def normalise_time(value: Any) -> Any:
    """Reject naive datetimes; pin aware ones to their fixed UTC offset (same instant)."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("times must carry a timezone")
        if not isinstance(value.tzinfo, timezone):
            return value.replace(tzinfo=timezone(offset), fold=0)
    return value


class _Frozen(BaseModel):
    """Immutable, no unknown fields; optional text stripped (empty → None), times aware."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        changed: dict[str, Any] | None = None
        for key, value in data.items():
            new = _normalised(value)
            if new is not value:
                changed = changed if changed is not None else dict(data)
                changed[key] = new
        return data if changed is None else changed


def _normalised(value: Any) -> Any:
    """``value`` itself when it needs no change (the common case, kept fast), else its new form."""
    kind = type(value)
    if kind is str:
        stripped = value.strip()
        return value if stripped is value and value else (stripped or None)
    if kind is datetime:
        return value if type(value.tzinfo) is timezone else normalise_time(value)
    if (kind is tuple or kind is list) and value and type(value[0]) is str:
        items = [_normalised(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return tuple(item for item in items if item is not None)
    if isinstance(value, str):  # a str subclass, e.g. an enum member: left to pydantic
        return value
    if isinstance(value, datetime):
        return normalise_time(value)
    return value


class PatientIdentifier(_Frozen):
    """A Swedish person identifier; ``value`` is 12 digits for personnummer/samordningsnummer."""

    kind: IdentifierKind
    value: str = Field(min_length=1, max_length=64)
    assigner: str | None = Field(
        default=None, description="Assigning authority of a local reservnummer (OID or name)."
    )

    @property
    def system(self) -> str:
        if self.kind is IdentifierKind.PERSONNUMMER:
            return PERSONNUMMER_SYSTEM
        if self.kind is IdentifierKind.SAMORDNINGSNUMMER:
            return SAMORDNINGSNUMMER_SYSTEM
        if self.kind is IdentifierKind.NATIONELLT_RESERVNUMMER:
            return NATIONELLT_RESERVNUMMER_SYSTEM
        if self.assigner and OID.match(self.assigner):
            return f"urn:oid:{self.assigner}"
        return f"urn:bridge:local-reservnummer:{self.assigner or 'unknown'}"

    @property
    def masked(self) -> str:
        return mask(self.value) if self.kind in _CHECKED_KINDS else "****"


_CHECKED_KINDS = (IdentifierKind.PERSONNUMMER, IdentifierKind.SAMORDNINGSNUMMER)


class HumanName(_Frozen):
    family: str | None = None
    given: tuple[str, ...] = ()


class Address(_Frozen):
    lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None


class ContactPoint(_Frozen):
    """A telephone number or an e-mail address: HL7 PID-13 (home) / PID-14 (work) XTN, FHIR
    ``Patient.telecom``."""

    system: Literal["phone", "email"] = "phone"
    value: str = Field(min_length=1, max_length=200)
    use: Literal["home", "work"] = "home"


class CareUnit(_Frozen):
    """A ward or care unit, identified by its HSA-id; ``code`` is the local ward code."""

    hsa_id: str | None = None
    name: str | None = None
    code: str | None = Field(default=None, description="Ward/unit code (HL7 v2 PV1-3 PL-1).")


class Patient(_Frozen):
    identifiers: tuple[PatientIdentifier, ...] = Field(min_length=1)
    name: HumanName | None = None
    birth_date: date | None = None
    gender: Literal["male", "female", "other", "unknown"] | None = None
    address: Address | None = None
    telecom: tuple[ContactPoint, ...] = ()
    security_labels: frozenset[SecurityLabel] = frozenset()
    unrecognised_restrictions: tuple[str, ...] = Field(
        default=(),
        description="Confidentiality/access-restriction codes the bridge does not recognise, "
        "as received (e.g. 'ARV-3 DEM'): the person is treated as protected (fails closed).",
    )
    primary_care_unit: CareUnit | None = None

    @property
    def primary_identifier(self) -> PatientIdentifier:
        """The identifier to route and order by: personnummer first, then the others."""
        rank = {kind: index for index, kind in enumerate(IdentifierKind)}
        return min(self.identifiers, key=lambda ident: rank[ident.kind])

    @property
    def is_protected(self) -> bool:
        """A known label, or any restriction code the bridge does not know (fails closed)."""
        return bool(self.security_labels or self.unrecognised_restrictions)


class Encounter(_Frozen):
    """The hospital stay the notice is about (FHIR Encounter, HL7 PV1/PV2)."""

    visit_number: str | None = None
    class_code: Literal["IMP", "AMB", "EMER"] = "IMP"
    admission_type: AdmissionType | None = Field(
        default=None,
        description="PV1-4 (HL7 table 0007) / Encounter.priority: decides whether a "
        "readmission is unplanned (bridge.domain.admission_type).",
    )
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    unit: CareUnit | None = None
    estimated_discharge: datetime | None = None


class AdmissionInformation(_Frozen):
    """What Gotland's routine adds to the inskrivningsmeddelande (admission notice)."""

    reason_for_admission: str | None = None
    housing_situation: str | None = None
    social_situation: str | None = None
    care_needs_assessment: str | None = None


class PatientMerge(_Frozen):
    """ADT^A40 / Patient.link: the identity merged into the event's patient (MRG-1)."""

    prior_identifier: PatientIdentifier


class Participant(_Frozen):
    """A person or a unit taking part in a SIP meeting or on a SIP care team."""

    kind: Literal["person", "unit"] = "person"
    name: str | None = None
    hsa_id: str | None = None
    role: str | None = Field(default=None, description="E.g. fast vårdkontakt, biståndshandläggare")
    party: ResponsibleParty | None = Field(default=None, description="The huvudman represented.")

    @model_validator(mode="after")
    def _named(self) -> Participant:
        if self.name is None and self.hsa_id is None and self.role is None:
            raise ValueError("a participant needs a name, an HSA-id or a role")
        return self


def _units_first(participants: tuple[Participant, ...]) -> tuple[Participant, ...]:
    """Units before persons, otherwise as given: the order HL7 v2 SIU segments (AIG, AIP) keep."""
    return tuple(sorted(participants, key=lambda participant: participant.kind != "unit"))


class SipMeeting(_Frozen):
    """A SIP meeting (kallelse till SIP): SIU^S12/S13/S15, FHIR Appointment."""

    appointment_id: str = Field(min_length=1, max_length=64)
    status: Literal["booked", "cancelled"] = "booked"
    start: datetime | None = None
    end: datetime | None = None
    location: str | None = None
    participants: tuple[Participant, ...] = ()

    @field_validator("participants")
    @classmethod
    def _order(cls, value: tuple[Participant, ...]) -> tuple[Participant, ...]:
        return _units_first(value)

    @model_validator(mode="after")
    def _times(self) -> SipMeeting:
        """FHIR Appointment app-2/app-3: start and end together, and both when booked."""
        if (self.start is None) != (self.end is None):
            raise ValueError("a SIP meeting has both a start and an end time, or neither")
        if self.status == "booked" and self.start is None:
            raise ValueError("a booked SIP meeting needs its start and end time")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("a SIP meeting cannot end before it starts")
        return self


class SipIntervention(_Frozen):
    """One insats in a SIP and the huvudman that answers for it."""

    description: str = Field(min_length=1)
    responsible: ResponsibleParty
    performer: CareUnit | None = None


class SipConsent(_Frozen):
    """The person's consent (samtycke) to the SIP: given or withdrawn, and when."""

    status: Literal["given", "withdrawn"]
    recorded_at: datetime | None = None


class SipPlan(_Frozen):
    """A samordnad individuell plan: FHIR CarePlan + CareTeam + Consent (no HL7 v2 form)."""

    plan_id: str = Field(min_length=1, max_length=64)
    status: Literal["active", "completed", "revoked"] = "active"
    overall_responsible: ResponsibleParty | None = None
    interventions: tuple[SipIntervention, ...] = ()
    care_team: tuple[Participant, ...] = ()
    consent: SipConsent | None = None


class HomeCareEnrolment(_Frozen):
    """Inskrivning i hemsjukvården (Treserva → TakeCare): FHIR EpisodeOfCare."""

    episode_id: str = Field(min_length=1, max_length=64)
    status: Literal["active", "finished"] = "active"
    start: datetime | None = None
    end: datetime | None = None
    managing_unit: CareUnit | None = None


OrderStatus = Literal["requested", "accepted", "rejected", "on-hold"]
"""FHIR Task.status of a home-care order: sent, or the municipality's answer (``on-hold``:
more information needed)."""
OrderService = Literal["hemsjukvard", "hemtjanst"]


class HomeCareOrder(_Frozen):
    """A beställning/remiss of home health care or home help: FHIR ServiceRequest + Task, HL7 v2
    REF^I12 (the order) / RRI^I12 (the answer). docs/orders.md."""

    order_id: str = Field(min_length=1, max_length=64)
    status: OrderStatus = "requested"
    service: OrderService = "hemsjukvard"
    requester: CareUnit = Field(description="The referring unit; its answer goes back there.")
    performer: CareUnit | None = Field(default=None, description="The municipal unit asked.")
    description: str | None = Field(default=None, description="What is asked for, free text.")
    authored_at: datetime | None = None
    reason: str | None = Field(default=None, description="Why rejected / what is missing.")

    @model_validator(mode="after")
    def _answer_has_reason(self) -> HomeCareOrder:
        if self.requester.hsa_id is None and self.requester.name is None:
            raise ValueError("an order's requester needs an HSA-id or a name")
        if self.status in ("rejected", "on-hold") and self.reason is None:
            raise ValueError(f"an order answered {self.status} needs a reason")
        return self


ReceiptCode = Literal["ok", "transient-error", "fatal-error"]


class Receipt(_Frozen):
    """A receiving system's confirmation (kvittens): HL7 ACK or FHIR MessageHeader.response."""

    responds_to: str = Field(
        min_length=1, max_length=199, description="The confirmed MessageHeader.id or MSH-10."
    )
    code: ReceiptCode
    text: str | None = None


class MessageOrigin(_Frozen):
    """Who sent the message and under which id: the dedupe key is facility + message id."""

    sending_application: str | None = None
    sending_facility: str = Field(min_length=1)
    message_id: str = Field(min_length=1, max_length=199)
    sent_at: datetime | None = None
    hl7_version: str | None = None


class CareTransitionEvent(_Frozen):
    """One event in a patient's care transition, in the bridge's own terms."""

    event: EventCode
    origin: MessageOrigin
    occurred_at: datetime | None = None
    patient: Patient | None = Field(default=None, description="Absent for a receipt, only.")
    encounter: Encounter | None = None
    admission_info: AdmissionInformation | None = None
    merge: PatientMerge | None = None
    sip_meeting: SipMeeting | None = None
    sip_plan: SipPlan | None = None
    home_care: HomeCareEnrolment | None = None
    order: HomeCareOrder | None = None
    receipt: Receipt | None = None

    @model_validator(mode="after")
    def _has_its_part(self) -> CareTransitionEvent:
        part = REQUIRED_PART.get(self.event)
        if part is not None and getattr(self, part) is None:
            raise ValueError(f"a {self.event.value} event needs {part}")
        for other in _EVENT_PARTS - {part}:
            if getattr(self, other) is not None:
                raise ValueError(f"a {self.event.value} event cannot carry {other}")
        if self.event is EventCode.PATIENT_DEMOGRAPHICS_CHANGED and (
            self.encounter is not None or self.admission_info is not None
        ):
            raise ValueError(f"a {self.event.value} event is about the patient, not a stay")
        is_receipt = self.event is EventCode.RECEIPT
        if (self.patient is None) != is_receipt:
            raise ValueError(
                "a receipt carries no patient"
                if is_receipt
                else f"a {self.event.value} event needs patient"
            )
        status = _status_of(self)
        allowed = EXPECTED_STATUS.get(self.event)
        if allowed is not None and status not in allowed:
            raise ValueError(
                f"a {self.event.value} event needs status {' or '.join(allowed)}, not {status}"
            )
        return self

    @property
    def dedupe_key(self) -> str:
        return f"{self.origin.sending_facility}|{self.origin.message_id}"

    def for_destination(self) -> CareTransitionEvent:
        """The event as it may leave the bridge: a protected person's address and contact
        details (a phone number or e-mail leads to where they live as surely) removed."""
        patient = self.patient
        if patient is None or not patient.is_protected:
            return self
        labels = patient.security_labels
        if not labels:
            # Only codes the bridge does not know: the destination is told the person is
            # protected with the label every protection implies, not left to assume otherwise.
            labels = frozenset({SecurityLabel.SEKRETESSMARKERING})
        if patient.address is None and not patient.telecom and labels == patient.security_labels:
            return self
        hidden = patient.model_copy(
            update={"address": None, "telecom": (), "security_labels": labels}
        )
        return self.model_copy(update={"patient": hidden})


REQUIRED_PART: dict[EventCode, str] = {
    EventCode.PATIENT_MERGE: "merge",
    EventCode.SIP_MEETING_BOOKED: "sip_meeting",
    EventCode.SIP_MEETING_MOVED: "sip_meeting",
    EventCode.SIP_MEETING_CANCELLED: "sip_meeting",
    EventCode.SIP_PLAN_ESTABLISHED: "sip_plan",
    EventCode.SIP_PLAN_UPDATED: "sip_plan",
    EventCode.SIP_PLAN_CLOSED: "sip_plan",
    EventCode.HOMECARE_ENROLMENT_STARTED: "home_care",
    EventCode.HOMECARE_ENROLMENT_ENDED: "home_care",
    EventCode.HOMECARE_ORDER: "order",
    EventCode.HOMECARE_ORDER_ANSWERED: "order",
    EventCode.RECEIPT: "receipt",
}
"""The part of :class:`CareTransitionEvent` each event kind must carry (others: none extra)."""

_EVENT_PARTS = frozenset(REQUIRED_PART.values())
"""Parts only the events that need them may carry (encounter and admission_info go anywhere)."""

EXPECTED_STATUS: dict[EventCode, tuple[str, ...]] = {
    EventCode.SIP_MEETING_BOOKED: ("booked",),
    EventCode.SIP_MEETING_MOVED: ("booked",),
    EventCode.SIP_MEETING_CANCELLED: ("cancelled",),
    EventCode.SIP_PLAN_ESTABLISHED: ("active",),
    EventCode.SIP_PLAN_UPDATED: ("active",),
    EventCode.SIP_PLAN_CLOSED: ("completed", "revoked"),
    EventCode.HOMECARE_ENROLMENT_STARTED: ("active",),
    EventCode.HOMECARE_ENROLMENT_ENDED: ("finished",),
    EventCode.HOMECARE_ORDER: ("requested",),
    EventCode.HOMECARE_ORDER_ANSWERED: ("accepted", "rejected", "on-hold"),
}
"""The status the event's part must have: the event code and the part can never disagree."""


def _status_of(event: CareTransitionEvent) -> str | None:
    part = REQUIRED_PART.get(event.event)
    value = getattr(event, part, None) if part else None
    status = getattr(value, "status", None)
    return status if isinstance(status, str) else None
