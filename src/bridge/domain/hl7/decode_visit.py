"""PV1, PV2 and OBX → :class:`Encounter` and :class:`AdmissionInformation` (docs/mapping.md)."""

from __future__ import annotations

from typing import Literal

from bridge.domain.admission_type import HL7_0007
from bridge.domain.hl7.er7 import Er7Message, Repetition, Segment
from bridge.domain.hl7.profile import (
    ADMISSION_INFO_ALIAS,
    ADMISSION_INFO_CODES,
    ADMISSION_INFO_SYSTEM,
)
from bridge.domain.hl7.timestamps import parse_ts
from bridge.domain.hl7.values import clean
from bridge.domain.model import AdmissionInformation, CareUnit, Encounter

ClassCode = Literal["IMP", "AMB", "EMER"]

_CLASSES: dict[str, ClassCode] = {"I": "IMP", "O": "AMB", "E": "EMER"}
_ADMISSION_INFO_SYSTEMS = frozenset({"", ADMISSION_INFO_SYSTEM, ADMISSION_INFO_ALIAS})


def decode_encounter(message: Er7Message) -> Encounter | None:
    """The stay; None when PV1/PV2 say nothing the canonical model holds.

    A patient class other than I/O/E (or none) is read as inpatient: every ADT event the
    bridge carries is about a hospital stay. PV1-4 (table 0007) gives the admission type; a
    code outside the table is read as none.
    """
    pv1, pv2 = message.segment("PV1"), message.segment("PV2")
    if pv1 is None and pv2 is None:
        return None
    patient_class = pv1.get(2).strip().upper() if pv1 is not None else ""
    unit = _unit(pv1)
    admission_type = HL7_0007.get(pv1.get(4).strip().upper()) if pv1 is not None else None
    visit_number = clean(pv1.get(19)) if pv1 is not None else None
    admitted_at = parse_ts(pv1.get(44), "PV1-44") if pv1 is not None else None
    discharged_at = parse_ts(pv1.get(45), "PV1-45") if pv1 is not None else None
    estimated = parse_ts(pv2.get(9), "PV2-9") if pv2 is not None else None
    known = (unit, visit_number, admitted_at, discharged_at, estimated, admission_type)
    if patient_class not in _CLASSES and all(value is None for value in known):
        return None
    return Encounter(
        visit_number=visit_number,
        class_code=_CLASSES.get(patient_class, "IMP"),
        admission_type=admission_type,
        admitted_at=admitted_at,
        discharged_at=discharged_at,
        unit=unit,
        estimated_discharge=estimated,
    )


def _unit(pv1: Segment | None) -> CareUnit | None:
    return None if pv1 is None else unit_of_location(pv1.first(3))


def unit_of_location(location: Repetition) -> CareUnit | None:
    """A PL (PV1-3): the ward code is PL-1, the unit name PL-4 HD-1 and its HSA-id PL-4 HD-2."""
    code = clean(location.component(1))
    name = clean(location.component(4, 1))
    hsa_id = clean(location.component(4, 2))
    if name is None and hsa_id is None and code is None:
        return None
    return CareUnit(hsa_id=hsa_id, name=name, code=code)


def decode_admission_information(message: Er7Message) -> AdmissionInformation | None:
    """PV2-3 and the admission-information OBX segments; None when there is none of it."""
    pv2 = message.segment("PV2")
    reason = None
    if pv2 is not None:
        admit_reason = pv2.first(3)
        reason = clean(admit_reason.component(2)) or clean(admit_reason.component(1))
    texts = _observation_texts(message)
    if reason is None and not texts:
        return None
    return AdmissionInformation(
        reason_for_admission=reason,
        housing_situation=texts.get("housing_situation"),
        social_situation=texts.get("social_situation"),
        care_needs_assessment=texts.get("care_needs_assessment"),
    )


def _observation_texts(message: Er7Message) -> dict[str, str]:
    """OBX-5 per admission-information code; repetitions and repeated OBX become lines."""
    lines: dict[str, list[str]] = {}
    for obx in message.segments("OBX"):
        code = obx.get(3, 1).strip()
        if code not in ADMISSION_INFO_CODES or obx.get(3, 3).strip() not in _ADMISSION_INFO_SYSTEMS:
            continue
        field = ADMISSION_INFO_CODES[code][0]
        lines.setdefault(field, []).extend(rep.text for rep in obx.repetitions(5))
    texts = {field: clean("\n".join(parts)) for field, parts in lines.items()}
    return {field: text for field, text in texts.items() if text is not None}
