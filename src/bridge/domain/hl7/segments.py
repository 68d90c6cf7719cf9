"""Segment writers for :mod:`encode`: one function per segment, default delimiters ``|^~\\&``."""

from __future__ import annotations

import re

from bridge.domain.admission_type import TO_HL7_0007
from bridge.domain.hl7.escaping import escape
from bridge.domain.hl7.profile import (
    ADMISSION_INFO_ALIAS,
    ADMISSION_INFO_CODES,
    HSA_UNIVERSAL_ID_TYPE,
    RESERVNUMMER_ID_TYPE,
    SWEDISH_ID_TYPE,
)
from bridge.domain.hl7.timestamps import format_date, format_ts
from bridge.domain.identifiers import (
    HSA_OIDS,
    NATIONELLT_RESERVNUMMER_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    IdentifierKind,
)
from bridge.domain.model import (
    AdmissionInformation,
    CareTransitionEvent,
    CareUnit,
    ContactPoint,
    Encounter,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)

_OID = re.compile(r"[0-2](\.(0|[1-9]\d*))+\Z", re.ASCII)
_KIND_OIDS = {
    IdentifierKind.PERSONNUMMER: PERSONNUMMER_OID,
    IdentifierKind.SAMORDNINGSNUMMER: SAMORDNINGSNUMMER_OID,
    IdentifierKind.NATIONELLT_RESERVNUMMER: NATIONELLT_RESERVNUMMER_OID,
}
_GENDER_CODES = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_CLASS_CODES = {"IMP": "I", "AMB": "O", "EMER": "E"}
_NO_ENCOUNTER = "N"  # table 0004 "not applicable": decoded back as no encounter
_LABEL_DISPLAY = {
    SecurityLabel.SEKRETESSMARKERING: "Sekretessmarkering",
    SecurityLabel.SKYDDAD_FOLKBOKFORING: "Skyddad folkbokföring",
}
_SECURITY_LABEL_CODING = "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel"


def esc(value: str | None) -> str:
    return escape(value) if value else ""


def join_fields(fields: list[str], separator: str = "|") -> str:
    """Join fields (or components), leaving out the empty ones at the end."""
    end = len(fields)
    while end and not fields[end - 1]:
        end -= 1
    return separator.join(fields[:end])


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from {sequence number: encoded field}."""
    values = [""] * (max(fields, default=0) + 1)
    values[0] = name
    for index, value in fields.items():
        values[index] = value
    return join_fields(values)


def evn(event: CareTransitionEvent, trigger: str, version: tuple[int, ...]) -> str:
    """EVN-2 and EVN-6 both carry the canonical time; EVN-1 only where it still exists."""
    occurred = format_ts(event.occurred_at) if event.occurred_at else ""
    return segment("EVN", {1: trigger if version < (2, 7) else "", 2: occurred, 6: occurred})


def pid(patient: Patient) -> str:
    fields = {
        1: "1",
        3: "~".join(cx(identifier) for identifier in patient.identifiers),
        7: format_date(patient.birth_date) if patient.birth_date else "",
        8: _GENDER_CODES[patient.gender] if patient.gender else "",
    }
    if patient.name is not None:
        given = patient.name.given
        fields[5] = join_fields(
            [esc(patient.name.family), esc(given[0] if given else ""), esc(" ".join(given[1:]))],
            "^",
        )
    if patient.address is not None:
        fields[11] = _xad(patient)
    # A protected person's phone and e-mail lead to them as surely as the address: withheld.
    contacts = () if patient.is_protected else patient.telecom
    for index, use in ((13, "home"), (14, "work")):
        fields[index] = "~".join(_xtn(c) for c in contacts if c.use == use)
    return segment("PID", fields)


def _xtn(contact: ContactPoint) -> str:
    """XTN: a number in XTN-1 with use PRN/WPN and type PH; an e-mail address in XTN-4 (NET,
    Internet)."""
    if contact.system == "email":
        return join_fields(["", "NET", "Internet", esc(contact.value)], "^")
    return join_fields([esc(contact.value), "PRN" if contact.use == "home" else "WPN", "PH"], "^")


def cx(identifier: PatientIdentifier) -> str:
    """Swedish identifiers carry both markers: the OID in CX-4 and the type in CX-5."""
    oid = _KIND_OIDS.get(identifier.kind)
    if identifier.kind in (IdentifierKind.PERSONNUMMER, IdentifierKind.SAMORDNINGSNUMMER):
        return f"{esc(identifier.value)}^^^&{oid}&ISO^{SWEDISH_ID_TYPE}"
    authority = f"&{oid}&ISO" if oid else _authority(identifier.assigner)
    return f"{esc(identifier.value)}^^^{authority}^{RESERVNUMMER_ID_TYPE}"


def _authority(assigner: str | None) -> str:
    if not assigner:
        return ""
    return f"&{assigner}&ISO" if _OID.match(assigner) else esc(assigner)


def _xad(patient: Patient) -> str:
    address = patient.address
    assert address is not None
    lines = address.lines
    return join_fields(
        [
            esc(lines[0] if lines else ""),
            esc(", ".join(lines[1:])),
            esc(address.city),
            "",
            esc(address.postal_code),
            esc(address.country),
        ],
        "^",
    )


def pd1_and_arv(patient: Patient, version: tuple[int, ...]) -> list[str]:
    """PD1-3 primary care unit and PD1-12; ARV from v2.6, earlier only when PD1-12 falls short.

    PD1-12 ``Y`` reads back as sekretessmarkering, so before v2.6 an ARV is still written for
    skyddad folkbokföring: it is the only way to keep the two labels apart.
    """
    labels = sorted(patient.security_labels)
    fields: dict[int, str] = {12: "Y" if labels else ""}
    if patient.primary_care_unit is not None:
        fields[3] = _xon(patient.primary_care_unit, version)
    segments = [segment("PD1", fields)] if fields[12] or 3 in fields else []
    if version >= (2, 6) or SecurityLabel.SKYDDAD_FOLKBOKFORING in labels:
        segments += [_arv(number, label) for number, label in enumerate(labels, start=1)]
    return segments


def _xon(unit: CareUnit, version: tuple[int, ...]) -> str:
    """XON: name in XON-1, the HSA-id in XON-10 (XON-3 before v2.5), HSA OID in XON-6."""
    components = [esc(unit.name)] + [""] * 9
    if unit.hsa_id:
        components[5] = f"&{HSA_OIDS[0]}&ISO"
        components[9 if version >= (2, 5) else 2] = esc(unit.hsa_id)
    return join_fields(components, "^")


def _arv(number: int, label: SecurityLabel) -> str:
    value = f"{label.value}^{esc(_LABEL_DISPLAY[label])}^{_SECURITY_LABEL_CODING}"
    return segment("ARV", {1: str(number), 2: "A", 3: value})


def pv1(encounter: Encounter | None) -> str:
    if encounter is None:
        return segment("PV1", {1: "1", 2: _NO_ENCOUNTER})
    fields = {
        1: "1",
        2: _CLASS_CODES[encounter.class_code],
        3: pl(encounter.unit),
        4: TO_HL7_0007[encounter.admission_type] if encounter.admission_type else "",
        19: esc(encounter.visit_number),
        44: format_ts(encounter.admitted_at) if encounter.admitted_at else "",
        45: format_ts(encounter.discharged_at) if encounter.discharged_at else "",
    }
    return segment("PV1", fields)


def pl(unit: CareUnit | None) -> str:
    """PL-1 ward code and PL-4 facility HD: unit name, HSA-id, ``HSA``."""
    if unit is None:
        return ""
    facility = join_fields(
        [esc(unit.name), esc(unit.hsa_id), HSA_UNIVERSAL_ID_TYPE if unit.hsa_id else ""], "&"
    )
    return join_fields([esc(unit.code), "", "", facility], "^")


def pv2(event: CareTransitionEvent) -> list[str]:
    info, encounter = event.admission_info, event.encounter
    reason = info.reason_for_admission if info is not None else None
    estimated = encounter.estimated_discharge if encounter is not None else None
    if reason is None and estimated is None:
        return []
    fields = {
        3: f"^{esc(reason)}" if reason else "",
        9: format_ts(estimated) if estimated else "",
    }
    return [segment("PV2", fields)]


def obx(info: AdmissionInformation | None) -> list[str]:
    if info is None:
        return []
    segments: list[str] = []
    for code, (field, display) in ADMISSION_INFO_CODES.items():
        text = getattr(info, field)
        if text:
            number = str(len(segments) + 1)
            coded = f"{code}^{esc(display)}^{ADMISSION_INFO_ALIAS}"
            segments.append(segment("OBX", {1: number, 2: "TX", 3: coded, 5: esc(text), 11: "F"}))
    return segments
