"""Profile rules of the resources the newer events carry: Appointment (SIP meeting), CarePlan,
CareTeam and Consent (SIP plan), EpisodeOfCare (home-care enrolment), and which entry a
message's focus must point at. Like :mod:`profile_rules`, tolerant of any JSON.
"""

from __future__ import annotations

from typing import Any

from bridge.domain.fhir import codes
from bridge.domain.model import EventCode, ResponsibleParty

Json = dict[str, Any]

APPOINTMENT_STATUSES = frozenset({"booked", "cancelled"})
CAREPLAN_STATUSES = frozenset({"active", "completed", "revoked"})
CONSENT_STATUSES = frozenset({"active", "inactive"})
EPISODE_STATUSES = frozenset({"active", "finished"})
PARTIES = frozenset(party.value for party in ResponsibleParty)
LINK_TYPES = frozenset({"replaced-by", "replaces", "refer", "seealso"})

FOCUS_TYPES: dict[EventCode, str] = {
    EventCode.PATIENT_MERGE: "Patient",
    EventCode.PATIENT_DEMOGRAPHICS_CHANGED: "Patient",
    EventCode.SIP_MEETING_BOOKED: "Appointment",
    EventCode.SIP_MEETING_MOVED: "Appointment",
    EventCode.SIP_MEETING_CANCELLED: "Appointment",
    EventCode.SIP_PLAN_ESTABLISHED: "CarePlan",
    EventCode.SIP_PLAN_UPDATED: "CarePlan",
    EventCode.SIP_PLAN_CLOSED: "CarePlan",
    EventCode.HOMECARE_ENROLMENT_STARTED: "EpisodeOfCare",
    EventCode.HOMECARE_ENROLMENT_ENDED: "EpisodeOfCare",
}
"""The resource type a message's focus points at, per event (others: Encounter or Patient)."""


def _dicts(value: object) -> list[Json]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _has_reference(parent: Json, key: str) -> bool:
    reference = _dict(parent.get(key)).get("reference")
    return isinstance(reference, str) and bool(reference)


def _identifier_in(resource: Json, system: str, path: str, what: str) -> list[str]:
    found = any(
        item.get("system") == system and item.get("value")
        for item in _dicts(resource.get("identifier"))
    )
    return [] if found else [f"{path}.identifier: {what} needs an identifier in {system}"]


def _one_of(value: object, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _status(resource: Json, allowed: frozenset[str], path: str) -> list[str]:
    if _one_of(resource.get("status"), allowed):
        return []
    return [f"{path}.status: must be one of {', '.join(sorted(allowed))}"]


def _parties(element: Json, url: str, path: str, required: bool = False) -> list[str]:
    found = [item for item in _dicts(element.get("extension")) if item.get("url") == url]
    if not found:
        return [f"{path}.extension: needs {url}"] if required else []
    coding = _dict(found[0].get("valueCoding"))
    if coding.get("system") != codes.RESPONSIBLE_PARTY_SYSTEM or not _one_of(
        coding.get("code"), PARTIES
    ):
        return [f"{path}.extension: {url} must be region, municipality or other"]
    return []


def appointment(resource: Json, path: str) -> list[str]:
    problems = _identifier_in(resource, codes.SIP_MEETING_ID_SYSTEM, path, "a SIP meeting")
    problems += _status(resource, APPOINTMENT_STATUSES, path)
    has_start, has_end = "start" in resource, "end" in resource
    if has_start != has_end:
        problems.append(f"{path}: start and end go together (app-2)")
    if resource.get("status") == "booked" and not has_start:
        problems.append(f"{path}.start: a booked appointment needs start and end (app-3)")
    participants = _dicts(resource.get("participant"))
    if not participants:
        problems.append(f"{path}.participant: the patient at least")
    for index, participant in enumerate(participants):
        where = f"{path}.participant[{index}]"
        if not participant.get("type") and not participant.get("actor"):
            problems.append(f"{where}: needs a type or an actor (app-1)")
        problems += _parties(participant, codes.RESPONSIBLE_PARTY_URL, where)
    return problems


def care_plan(resource: Json, path: str) -> list[str]:
    problems = _identifier_in(resource, codes.SIP_PLAN_ID_SYSTEM, path, "a SIP")
    problems += _status(resource, CAREPLAN_STATUSES, path)
    if resource.get("intent") != "plan":
        problems.append(f"{path}.intent: must be plan")
    if not _has_reference(resource, "subject"):
        problems.append(f"{path}.subject: must reference the Patient")
    problems += _parties(resource, codes.OVERALL_RESPONSIBILITY_URL, path)
    for index, activity in enumerate(_dicts(resource.get("activity"))):
        where = f"{path}.activity[{index}].detail"
        detail = _dict(activity.get("detail"))
        if not detail.get("description"):
            problems.append(f"{where}.description: a SIP intervention is described")
        problems += _parties(detail, codes.RESPONSIBLE_PARTY_URL, where, required=True)
    return problems


def care_team(resource: Json, path: str) -> list[str]:
    problems = [] if _has_reference(resource, "subject") else [f"{path}.subject: is required"]
    for index, participant in enumerate(_dicts(resource.get("participant"))):
        where = f"{path}.participant[{index}]"
        if not participant.get("member"):
            problems.append(f"{where}.member: is required")
        problems += _parties(participant, codes.RESPONSIBLE_PARTY_URL, where)
    return problems


def consent(resource: Json, path: str) -> list[str]:
    problems = _status(resource, CONSENT_STATUSES, path)
    if not _has_reference(resource, "patient"):
        problems.append(f"{path}.patient: must reference the Patient")
    if not resource.get("policy") and not resource.get("policyRule"):
        problems.append(f"{path}: needs policy or policyRule (ppc-1)")
    return problems


def episode_of_care(resource: Json, path: str) -> list[str]:
    problems = _identifier_in(
        resource, codes.HOMECARE_EPISODE_ID_SYSTEM, path, "a home-care enrolment"
    )
    problems += _status(resource, EPISODE_STATUSES, path)
    if not _has_reference(resource, "patient"):
        problems.append(f"{path}.patient: must reference the Patient")
    return problems


def patient_links(patient: Json, path: str) -> list[str]:
    return [
        f"{path}.link[{index}]: type must be one of {', '.join(sorted(LINK_TYPES))}"
        for index, link in enumerate(_dicts(patient.get("link")))
        if not _one_of(link.get("type"), LINK_TYPES) or not _has_reference(link, "other")
    ]


def focus_type(event: str, resources: list[Json], targets: dict[str, str], path: str) -> list[str]:
    """A request's focus points at the resource its event is about (docs/mapping.md)."""
    try:
        code = EventCode(event)
    except ValueError:
        return []
    expected = FOCUS_TYPES.get(code)
    header = resources[0]
    if code is EventCode.RECEIPT:
        return [] if header.get("response") else [f"{path}.entry[0].resource.response: required"]
    focus = _dicts(header.get("focus"))
    if expected is None or not focus:
        return []
    found = targets.get(str(focus[0].get("reference")))
    if found == expected:
        return []
    return [f"{path}.entry[0].resource.focus: a {event} message focuses on its {expected}"]
