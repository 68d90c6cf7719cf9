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
    Encounter,
    EventCode,
    HumanName,
    MessageOrigin,
    Patient,
    PatientIdentifier,
    SecurityLabel,
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
