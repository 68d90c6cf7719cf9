"""ADT^A01 (admission → inskrivningsmeddelande) in ER7, laid out as docs/mapping.md says.

Plain string building, so thousands of messages a second are cheap to make. The segments are
shared with the other events of an episode (:mod:`takecare_sim.episode_messages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from takecare_sim.er7 import (
    SEGMENT_END,
    STOCKHOLM,
    escape,
    hl7_date,
    hl7_time,
    segment,
    version_at_least,
)
from takecare_sim.patients import Admission, SyntheticPatient

PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
ADMISSION_INFO_SYSTEM = "BRIDGE-AI"
SUPPORTED_VERSIONS = ("2.3", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")


@dataclass(frozen=True)
class Sender:
    """Who the messages say they come from (MSH-3…6) and the HL7 version (MSH-12)."""

    application: str = "TAKECARE"
    facility: str = "VISBY_LAS"
    receiving_application: str = "BRIDGE"
    receiving_facility: str = "REGION_GOTLAND"
    version: str = "2.5"


def msh(sender: Sender, control_id: str, sent_at: datetime, message_type: str) -> str:
    fields = {
        2: "^~\\&",
        3: sender.application,
        4: sender.facility,
        5: sender.receiving_application,
        6: sender.receiving_facility,
        7: hl7_time(sent_at),
        9: message_type,
        10: control_id,
        11: "P",
        12: sender.version,
        17: "SWE",
    }
    if version_at_least(sender.version, "2.5"):
        fields[18] = "UNICODE UTF-8"
    return segment("MSH", fields)


def evn(trigger: str, recorded_at: datetime, occurred_at: datetime) -> str:
    return segment("EVN", {1: trigger, 2: hl7_time(recorded_at), 6: hl7_time(occurred_at)})


def _identifier(patient: SyntheticPatient) -> str:
    oid = PERSONNUMMER_OID if patient.identifier_kind == "personnummer" else SAMORDNINGSNUMMER_OID
    return f"{patient.identifier}^^^&{oid}&ISO^NNSWE"


def pid(patient: SyntheticPatient) -> str:
    address = patient.address
    given = "^".join(escape(name) for name in patient.given_names[:2])
    street, city = escape(address.street), escape(address.city)
    return segment(
        "PID",
        {
            1: "1",
            3: _identifier(patient),
            5: f"{escape(patient.family_name)}^{given}",
            7: hl7_date(patient.birth_date),
            8: patient.gender,
            11: f"{street}^^{city}^^{address.postal_code}^SWE",
        },
    )


def pd1(patient: SyntheticPatient, version: str) -> str:
    """Primary-care unit: HSA-id in XON-10 (v2.5+) or XON-3 (v2.3/2.4); PD1-12 protection."""
    unit = patient.primary_care
    id_component = 10 if version_at_least(version, "2.5") else 3
    components = [escape(unit.name)] + [""] * (id_component - 1)
    components[id_component - 1] = unit.hsa_id
    protected = "Y" if patient.protection else "N"
    return segment("PD1", {3: "^".join(components), 12: protected})


def arv(patient: SyntheticPatient) -> str:
    """Access restriction (v2.6+): keeps sekretessmarkering and skyddadFolkbokforing apart."""
    label = str(patient.protection)
    return segment("ARV", {1: "1", 2: "A", 3: f"{label}^{label}"})


def patient_segments(patient: SyntheticPatient, version: str) -> list[str]:
    """PID, PD1 and, for a protected person from v2.6 on, ARV."""
    segments = [pid(patient), pd1(patient, version)]
    if patient.protection and version_at_least(version, "2.6"):
        segments.append(arv(patient))
    return segments


def pv1(admission: Admission, discharged_at: datetime | None = None) -> str:
    ward = admission.ward
    location = f"{ward.code}^^^{escape(ward.name)}&{ward.hsa_id}&HSA"
    fields = {1: "1", 2: "I", 3: location, 19: admission.visit_number}
    fields[44] = hl7_time(admission.admitted_at)
    if discharged_at is not None:
        fields[45] = hl7_time(discharged_at)
    return segment("PV1", fields)


def pv2(admission: Admission, estimated_discharge: date | None = None) -> str:
    """PV2-3 reason for admission, PV2-9 the estimated discharge date (the admission's, or
    the one in force now)."""
    reason = f"{admission.reason_code}^{escape(admission.reason_text)}^I10"
    estimated = estimated_discharge or admission.estimated_discharge
    return segment("PV2", {3: reason, 9: hl7_date(estimated)})


def obx_segments(admission: Admission) -> list[str]:
    """Gotland's routine fields, one OBX (TX) each, coded in the admission-information system."""
    observations = (
        ("housing-situation", "Boendesituation", admission.housing_situation),
        ("social-situation", "Social situation", admission.social_situation),
        ("care-needs-assessment", "Nulägesbedömning", admission.care_needs_assessment),
    )
    return [
        segment(
            "OBX",
            {
                1: str(n),
                2: "TX",
                3: f"{code}^{name}^{ADMISSION_INFO_SYSTEM}",
                5: escape(text),
                11: "F",
            },
        )
        for n, (code, name, text) in enumerate(observations, start=1)
    ]


def build_admission(
    admission: Admission,
    control_id: str,
    sent_at: datetime | None = None,
    sender: Sender | None = None,
) -> str:
    """The ADT^A01 for one admission; ``control_id`` becomes MSH-10 and must be unique."""
    sender = sender or Sender()
    sent_at = sent_at or datetime.now(STOCKHOLM)
    patient = admission.patient
    segments = [
        msh(sender, control_id, sent_at, "ADT^A01^ADT_A01"),
        evn("A01", sent_at, admission.admitted_at),
        *patient_segments(patient, sender.version),
        pv1(admission),
        pv2(admission),
        *obx_segments(admission),
    ]
    return SEGMENT_END.join(segments) + SEGMENT_END
