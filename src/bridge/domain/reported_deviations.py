"""Collaboration deviations people report, beside the ones the bridge finds itself. Pure.

Staff report a deviation in one of five categories (:data:`CATEGORIES`) against the unit that
answers for it. The automatic deviations (a missed legal deadline, an incomplete admission
notice) are placed in the same categories (:func:`category_of_rule`), so one list
(:class:`DeviationEntry`) and one indicator count both. :func:`to_csv` and :func:`to_json` are
the export a regional deviation system imports (schema: docs/coordinators.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain.fhir.codes import CANONICAL_BASE
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.identifiers import HSA_SYSTEM

CATEGORIES: dict[str, tuple[str, str]] = {
    "incomplete-information": (
        "Ofullständig eller saknad information",
        "Incomplete or missing information",
    ),
    "medication-list": ("Läkemedelslista", "Medication list"),
    "wrong-or-late-notice": ("Felaktigt eller sent meddelande", "Wrong or late notice"),
    "sip-not-held": ("SIP inte genomförd", "SIP not held"),
    "other": ("Övrigt", "Other"),
}
"""Category code → (Swedish, English)."""

RULE_CATEGORIES = {
    "sip-invitation-3d": "sip-not-held",
    "incomplete-admission-notice": "incomplete-information",
}
"""Automatic deviations whose rule is not simply a late or missing notice."""

STAFF_CATEGORY_SYSTEM = f"{CANONICAL_BASE}CodeSystem/deviation-staff-category"
ORIGINS = ("automatic", "reported")


def category_of_rule(rule_id: str, rule_category: str = "") -> str:
    """The staff category an automatic deviation counts under."""
    if rule_id in RULE_CATEGORIES:
        return RULE_CATEGORIES[rule_id]
    if rule_category == "coordinated-planning":
        return "sip-not-held"
    if rule_category == "content":
        return "incomplete-information"
    return "wrong-or-late-notice"


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of: {', '.join(CATEGORIES)}")
    return category


@dataclass(frozen=True)
class DeviationEntry:
    """One deviation, automatic or reported, as the combined list and the export show it.

    Never a personnummer: ``patient`` is the masked form."""

    id: str
    origin: str
    category: str
    unit_hsa_id: str
    unit_name: str
    detected_at: datetime
    summary: str
    status: str
    patient: str = ""
    episode_id: str = ""
    rule_id: str = ""
    reported_by: str = ""

    @property
    def category_label(self) -> str:
        swedish, english = CATEGORIES.get(self.category, (self.category, self.category))
        return f"{swedish} / {english}"


def per_category(entries: Iterable[DeviationEntry]) -> dict[str, dict[str, int]]:
    """Category → {automatic, reported, total}, every category present (zero when none)."""
    counts = Counter((entry.category, entry.origin) for entry in entries)
    return {
        category: {
            "automatic": counts[(category, "automatic")],
            "reported": counts[(category, "reported")],
            "total": counts[(category, "automatic")] + counts[(category, "reported")],
        }
        for category in CATEGORIES
    }


EXPORT_COLUMNS = (
    "id",
    "origin",
    "category",
    "category_text",
    "unit_hsa_id",
    "unit_name",
    "detected_at",
    "status",
    "summary",
    "patient_masked",
    "episode_id",
    "rule",
    "reported_by",
)


def _record(entry: DeviationEntry) -> dict[str, str]:
    return {
        "id": entry.id,
        "origin": entry.origin,
        "category": entry.category,
        "category_text": entry.category_label,
        "unit_hsa_id": entry.unit_hsa_id,
        "unit_name": entry.unit_name,
        "detected_at": format_datetime(entry.detected_at),
        "status": entry.status,
        "summary": entry.summary,
        "patient_masked": entry.patient,
        "episode_id": entry.episode_id,
        "rule": entry.rule_id,
        "reported_by": entry.reported_by,
    }


def to_csv(entries: Iterable[DeviationEntry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entry in entries:
        writer.writerow(_record(entry))
    return out.getvalue()


def to_json(entries: Iterable[DeviationEntry]) -> str:
    rows = [_record(entry) for entry in entries]
    return json.dumps({"schema": "bridge-deviations/1", "deviations": rows}, ensure_ascii=False)


def detected_issue(entry: DeviationEntry, description: str) -> dict[str, Any]:
    """A reported deviation as a FHIR R4 DetectedIssue (no patient identity: the unit's
    deviation inbox finds the stay by its episode id in the bridge)."""
    swedish, english = CATEGORIES[entry.category]
    return {
        "resourceType": "DetectedIssue",
        "id": entry.id,
        "identifier": [{"system": f"{CANONICAL_BASE}NamingSystem/deviation-id", "value": entry.id}],
        "status": "preliminary",
        "code": {
            "coding": [
                {"system": STAFF_CATEGORY_SYSTEM, "code": entry.category, "display": english}
            ],
            "text": swedish,
        },
        "identifiedDateTime": format_datetime(entry.detected_at),
        "author": {"display": entry.reported_by},
        "implicated": [
            {
                "identifier": {"system": HSA_SYSTEM, "value": entry.unit_hsa_id},
                "display": entry.unit_name or entry.unit_hsa_id,
            }
        ],
        "detail": description,
    }
