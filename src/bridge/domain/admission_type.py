"""Admission type (HL7 table 0007 in PV1-4, FHIR Encounter.priority): what makes a stay
"unplanned" for the readmission indicator (docs/mapping.md, docs/coordinators.md).

The canonical value is a word; the codes on each side map to it. Codes the bridge does not know
are read as "no admission type" (the indicator then falls back to the encounter class).
"""

from __future__ import annotations

from typing import Literal

AdmissionType = Literal["emergency", "urgent", "accident", "elective", "newborn", "labor"]

HL7_0007: dict[str, AdmissionType] = {
    "E": "emergency",
    "U": "urgent",
    "A": "accident",
    "R": "elective",  # routine
    "C": "elective",
    "N": "newborn",
    "L": "labor",
}
"""PV1-4 (HL7 table 0007) → canonical."""

TO_HL7_0007: dict[AdmissionType, str] = {
    "emergency": "E",
    "urgent": "U",
    "accident": "A",
    "elective": "C",
    "newborn": "N",
    "labor": "L",
}

ACT_PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"

ACT_PRIORITY: dict[str, AdmissionType] = {
    "EM": "emergency",
    "S": "emergency",  # stat
    "UR": "urgent",
    "A": "urgent",  # ASAP
    "EL": "elective",
    "R": "elective",  # routine
}
"""Encounter.priority (v3 ActPriority) → canonical. ActPriority has no accident, newborn or
labor code: those are written as EM (accident) or left out (newborn, labor)."""

TO_ACT_PRIORITY: dict[AdmissionType, tuple[str, str]] = {
    "emergency": ("EM", "emergency"),
    "accident": ("EM", "emergency"),
    "urgent": ("UR", "urgent"),
    "elective": ("EL", "elective"),
}
