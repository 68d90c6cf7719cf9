"""The canonical model: one care-transition event, whatever format it arrived in.

Every decoder (HL7 v2, FHIR) produces a :class:`CareTransitionEvent`; every encoder consumes one.
Times are timezone-aware; HL7 v2 times without an offset are read as Europe/Stockholm.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class SecurityLabel(StrEnum):
    """Protected identity (HL7 Sweden). The two are distinct and both hide the address."""

    SEKRETESSMARKERING = "sekretessmarkering"
    SKYDDAD_FOLKBOKFORING = "skyddadFolkbokforing"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


class CareUnit(_Frozen):
    """A ward or care unit, identified by its HSA-id."""

    hsa_id: str | None = None
    name: str | None = None


class Patient(_Frozen):
    identifiers: tuple[PatientIdentifier, ...] = Field(min_length=1)
    name: HumanName | None = None
    birth_date: date | None = None
    gender: Literal["male", "female", "other", "unknown"] | None = None
    address: Address | None = None
    security_labels: frozenset[SecurityLabel] = frozenset()
    primary_care_unit: CareUnit | None = None

    @property
    def primary_identifier(self) -> PatientIdentifier:
        """The identifier to route and order by: personnummer first, then the others."""
        rank = {kind: index for index, kind in enumerate(IdentifierKind)}
        return min(self.identifiers, key=lambda ident: rank[ident.kind])

    @property
    def is_protected(self) -> bool:
        return bool(self.security_labels)


class Encounter(_Frozen):
    """The hospital stay the notice is about (FHIR Encounter, HL7 PV1/PV2)."""

    visit_number: str | None = None
    class_code: Literal["IMP", "AMB", "EMER"] = "IMP"
    admitted_at: datetime | None = None
    discharged_at: datetime | None = None
    unit: CareUnit | None = None
    estimated_discharge: datetime | None = None

    @field_validator("admitted_at", "discharged_at", "estimated_discharge")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times must carry a timezone")
        return value


class AdmissionInformation(_Frozen):
    """What Gotland's routine adds to the inskrivningsmeddelande (admission notice)."""

    reason_for_admission: str | None = None
    housing_situation: str | None = None
    social_situation: str | None = None
    care_needs_assessment: str | None = None


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
    patient: Patient
    encounter: Encounter | None = None
    admission_info: AdmissionInformation | None = None

    @property
    def dedupe_key(self) -> str:
        return f"{self.origin.sending_facility}|{self.origin.message_id}"

    def for_destination(self) -> CareTransitionEvent:
        """The event as it may leave the bridge: a protected person's address removed."""
        if not self.patient.is_protected or self.patient.address is None:
            return self
        patient = self.patient.model_copy(update={"address": None})
        return self.model_copy(update={"patient": patient})
