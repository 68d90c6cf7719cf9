"""Content checks on notices: what Gotland's routine asks an admission notice to carry. Pure.

The law asks the inskrivningsmeddelande for name, personnummer, address and the estimated
discharge date; the region's routine adds the reason for admission, the housing and social
situation and a current assessment of care needs (DOMAIN.md). A notice lacking any of them is
still delivered — the receiver needs what there is — and flagged as an incomplete notice.
"""

from __future__ import annotations

from bridge.domain.model import CareTransitionEvent, EventCode

RULE_ID = "incomplete-admission-notice"
ROUTINE_FIELDS = (
    "reason-for-admission",
    "housing-situation",
    "social-situation",
    "care-needs-assessment",
    "estimated-discharge",
)


def missing_routine_fields(event: CareTransitionEvent) -> tuple[str, ...]:
    """The routine's fields an admission notice lacks (none for other events)."""
    if event.event is not EventCode.ADMISSION:
        return ()
    info = event.admission_info
    present = {
        "reason-for-admission": bool(info and (info.reason_for_admission or "").strip()),
        "housing-situation": bool(info and (info.housing_situation or "").strip()),
        "social-situation": bool(info and (info.social_situation or "").strip()),
        "care-needs-assessment": bool(info and (info.care_needs_assessment or "").strip()),
        "estimated-discharge": bool(event.encounter and event.encounter.estimated_discharge),
    }
    return tuple(name for name in ROUTINE_FIELDS if not present[name])
