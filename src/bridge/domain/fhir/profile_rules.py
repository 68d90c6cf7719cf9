"""The project's profile rules, checked on plain FHIR JSON (the structural R4 check is separate).

These are the constraints the StructureDefinitions in ``schemas/fhir`` state, written as code so
tests and ``bridge contract check`` can apply them without a FHIR validator. Every function
tolerates any JSON: a wrong shape is a problem to report, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes, profile_rules_events
from bridge.domain.fhir.write_stay import ENCOUNTER_STATUS
from bridge.domain.identifiers import normalise_person_number
from bridge.domain.model import EVENT_CODE_SYSTEM, SECURITY_LABEL_SYSTEM, EventCode, SecurityLabel

Json = dict[str, Any]
Rule = Callable[[Json, str], list[str]]

ENCOUNTER_STATUSES = frozenset(
    {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
     "entered-in-error", "unknown"}
)  # fmt: skip
ISSUE_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
ISSUE_TYPES = frozenset(
    {"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
     "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
     "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
     "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
     "exception", "timeout", "incomplete", "throttled", "informational"}
)  # fmt: skip
GENDERS = frozenset({"male", "female", "other", "unknown"})
CLASS_CODES = frozenset(codes.CLASS_DISPLAY)
EVENT_CODES = frozenset(code.value for code in EventCode)
SECURITY_LABELS = frozenset(label.value for label in SecurityLabel)
RESPONSE_CODES = frozenset({"ok", "transient-error", "fatal-error"})
_SWEDISH_SYSTEMS = frozenset(
    {*codes.PERSON_NUMBER_SYSTEMS, *codes.RESERVNUMMER_SYSTEMS, codes.LOCAL_RESERVNUMMER_SYSTEM}
)
_ENCOUNTER_EXTENSIONS = {
    codes.ESTIMATED_DISCHARGE_URL: "valueDateTime",
    codes.HOUSING_SITUATION_URL: "valueString",
    codes.SOCIAL_SITUATION_URL: "valueString",
    codes.CARE_NEEDS_ASSESSMENT_URL: "valueString",
}


def profile_problems(resource: Json, path: str | None = None) -> list[str]:
    """Profile-rule violations of one resource (for a Bundle: of it and every entry)."""
    resource_type = resource.get("resourceType")
    rule = RULES.get(resource_type) if isinstance(resource_type, str) else None
    return [] if rule is None else rule(resource, path or str(resource_type))


def _one_of(value: object, allowed: frozenset[str]) -> bool:
    """Membership that tolerates any JSON value (a list or an object is in no set of codes)."""
    return isinstance(value, str) and value in allowed


def _dicts(value: object) -> list[Json]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _text(parent: Json, key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) and value else None


def _bundle(bundle: Json, path: str) -> list[str]:
    """A message Bundle's rules, then every entry's; other Bundles only pass on to entries."""
    entries = _dicts(bundle.get("entry"))
    resources = [_dict(entry.get("resource")) for entry in entries]
    problems = _message_bundle(bundle, entries, path) if bundle.get("type") == "message" else []
    for index, resource in enumerate(resources):
        problems += profile_problems(resource, f"{path}.entry[{index}].resource")
    return problems


def _message_bundle(bundle: Json, entries: list[Json], path: str) -> list[str]:
    problems = []
    identifier = _dict(bundle.get("identifier"))
    if not (_text(identifier, "system") and _text(identifier, "value")):
        problems.append(f"{path}.identifier: system and value are required")
    if not _text(bundle, "timestamp"):
        problems.append(f"{path}.timestamp: is required")
    resources = [_dict(entry.get("resource")) for entry in entries]
    if not resources or resources[0].get("resourceType") != "MessageHeader":
        return [*problems, f"{path}.entry[0]: the first entry must be a MessageHeader"]
    event = _text(_dict(resources[0].get("eventCoding")), "code") or ""
    return (
        problems
        + _full_urls(entries, path)
        + _references(entries, path)
        + _encounter_status(resources, path)
        + profile_rules_events.focus_type(event, resources, _targets(entries), path)
    )


def _full_urls(entries: list[Json], path: str) -> list[str]:
    problems, seen = [], set()
    for index, entry in enumerate(entries):
        full_url = _text(entry, "fullUrl")
        resource_id = _text(_dict(entry.get("resource")), "id")
        if full_url is None:
            problems.append(f"{path}.entry[{index}].fullUrl: is required")
        elif full_url in seen:
            problems.append(f"{path}.entry[{index}].fullUrl: must be unique in the Bundle")
        elif full_url.startswith("urn:uuid:") and resource_id not in (None, full_url[9:]):
            problems.append(f"{path}.entry[{index}].fullUrl: disagrees with the resource id")
        seen.add(full_url)
    return problems


def _targets(entries: list[Json]) -> dict[str, str]:
    return {
        str(entry["fullUrl"]): str(_dict(entry.get("resource")).get("resourceType"))
        for entry in entries
        if _text(entry, "fullUrl")
    }


def _references(entries: list[Json], path: str) -> list[str]:
    targets = _targets(entries)
    header = _dict(entries[0].get("resource"))
    problems = [
        f"{path}.entry[0].resource.focus[{index}]: must reference an entry in the Bundle"
        for index, focus in enumerate(_dicts(header.get("focus")))
        if _text(focus, "reference") not in targets
    ]
    for index, entry in enumerate(entries):
        resource = _dict(entry.get("resource"))
        if resource.get("resourceType") != "Encounter":
            continue
        subject = _text(_dict(resource.get("subject")), "reference")
        if targets.get(subject or "") != "Patient":
            where = f"{path}.entry[{index}].resource.subject"
            problems.append(f"{where}: must reference the Patient entry")
    return problems


def _encounter_status(resources: list[Json], path: str) -> list[str]:
    header = resources[0]
    event = _text(_dict(header.get("eventCoding")), "code")
    if "response" in header or event not in EVENT_CODES:
        return []
    expected = ENCOUNTER_STATUS.get(EventCode(event), "unknown")
    return [
        f"{path}.entry[{index}].resource.status: a {event} message needs status {expected}"
        for index, resource in enumerate(resources)
        if resource.get("resourceType") == "Encounter" and resource.get("status") != expected
    ]


def _message_header(header: Json, path: str) -> list[str]:
    problems = []
    coding = _dict(header.get("eventCoding"))
    if coding.get("system") != EVENT_CODE_SYSTEM:
        problems.append(f"{path}.eventCoding.system: must be {EVENT_CODE_SYSTEM}")
    if not _one_of(coding.get("code"), EVENT_CODES):
        problems.append(f"{path}.eventCoding.code: must be a code of care-transition-event")
    if not _text(_dict(header.get("source")), "endpoint"):
        problems.append(f"{path}.source.endpoint: is required")
    response = header.get("response")
    if response is None:
        if not _dicts(header.get("focus")):
            problems.append(f"{path}.focus: a request message needs a focus")
        if not _dicts(header.get("destination")):
            problems.append(f"{path}.destination: a request message names its destination")
    elif not _one_of(_dict(response).get("code"), RESPONSE_CODES):
        problems.append(f"{path}.response.code: must be ok, transient-error or fatal-error")
    return problems


def _patient(patient: Json, path: str) -> list[str]:
    identifiers = _dicts(patient.get("identifier"))
    problems = [
        problem
        for index, identifier in enumerate(identifiers)
        for problem in _person_number(identifier, f"{path}.identifier[{index}]")
    ]
    if not any(_is_swedish(identifier) for identifier in identifiers):
        problems.append(f"{path}.identifier: needs a Swedish identifier (HL7 Sweden system)")
    labels = _security_labels(patient)
    problems += [
        f"{path}.meta.security: unknown label {label!r}" for label in labels - SECURITY_LABELS
    ]
    if labels and patient.get("address") is not None:
        problems.append(f"{path}.address: must be absent for a protected person")
    if patient.get("gender") not in (None, *GENDERS):
        problems.append(f"{path}.gender: must be male, female, other or unknown")
    return problems + profile_rules_events.patient_links(patient, path)


def _is_swedish(identifier: Json) -> bool:
    if _one_of(identifier.get("system"), _SWEDISH_SYSTEMS):
        return True
    codings = _dicts(_dict(identifier.get("type")).get("coding"))
    return any(
        coding.get("system") == codes.IDENTIFIER_TYPE_SYSTEM and coding.get("code") in ("PI", "RN")
        for coding in codings
    )


def _person_number(identifier: Json, path: str) -> list[str]:
    kind = codes.PERSON_NUMBER_SYSTEMS.get(str(identifier.get("system")))
    if kind is None:
        return []
    value = identifier.get("value")
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 12):
        return [f"{path}.value: must be 12 digits (YYYYMMDDNNNC)"]
    try:
        found, _ = normalise_person_number(value)
    except MessageRejected as error:
        return [f"{path}.value: {error.reason}"]
    return [] if found is kind else [f"{path}.system: the number is a {found.value}"]


def _security_labels(patient: Json) -> set[str]:
    return {
        str(coding.get("code"))
        for coding in _dicts(_dict(patient.get("meta")).get("security"))
        if coding.get("system") == SECURITY_LABEL_SYSTEM
    }


def _encounter(encounter: Json, path: str) -> list[str]:
    problems = []
    if not _one_of(encounter.get("status"), ENCOUNTER_STATUSES):
        problems.append(f"{path}.status: must be an R4 encounter status")
    klass = _dict(encounter.get("class"))
    if klass.get("system") != codes.ACT_CODE_SYSTEM or not _one_of(klass.get("code"), CLASS_CODES):
        problems.append(f"{path}.class: must be IMP, AMB or EMER from {codes.ACT_CODE_SYSTEM}")
    if not _text(_dict(encounter.get("subject")), "reference"):
        problems.append(f"{path}.subject: must reference the Patient")
    return problems + _encounter_extensions(encounter, path)


def _encounter_extensions(encounter: Json, path: str) -> list[str]:
    problems, seen = [], set()
    for index, extension in enumerate(_dicts(encounter.get("extension"))):
        url = extension.get("url")
        value_key = _ENCOUNTER_EXTENSIONS.get(str(url))
        if value_key is None:
            continue
        where = f"{path}.extension[{index}]"
        if url in seen:
            problems.append(f"{where}: {url} may appear once")
        if not _text(extension, value_key):
            problems.append(f"{where}: {url} needs {value_key}")
        seen.add(url)
    return problems


def _operation_outcome(outcome: Json, path: str) -> list[str]:
    issues = _dicts(outcome.get("issue"))
    problems = [] if issues else [f"{path}.issue: at least one issue is required"]
    for index, issue in enumerate(issues):
        if not _one_of(issue.get("severity"), ISSUE_SEVERITIES):
            problems.append(f"{path}.issue[{index}].severity: must be an R4 issue severity")
        if not _one_of(issue.get("code"), ISSUE_TYPES):
            problems.append(f"{path}.issue[{index}].code: must be an R4 issue type")
    return problems


def _capability_statement(statement: Json, path: str) -> list[str]:
    problems = []
    if statement.get("fhirVersion") != codes.FHIR_VERSION:
        problems.append(f"{path}.fhirVersion: must be {codes.FHIR_VERSION}")
    if statement.get("kind") == "instance" and not _dict(statement.get("implementation")):
        problems.append(f"{path}.implementation: required when kind is instance")
    definitions = {
        message.get("definition")
        for messaging in _dicts(statement.get("messaging"))
        for message in _dicts(messaging.get("supportedMessage"))
    }
    expected = {codes.message_definition_url(code) for code in EventCode}
    if not expected <= definitions:
        problems.append(f"{path}.messaging.supportedMessage: must list every event definition")
    return problems


def _conformance(resource: Json, path: str) -> list[str]:
    url = _text(resource, "url") or ""
    if not url.startswith(codes.CANONICAL_BASE):
        return []
    problems = []
    if resource.get("resourceType") == "StructureDefinition":
        if resource.get("fhirVersion") != codes.FHIR_VERSION:
            problems.append(f"{path}.fhirVersion: must be {codes.FHIR_VERSION}")
        if resource.get("derivation") != "constraint":
            problems.append(f"{path}.derivation: must be constraint")
        if not _dicts(_dict(resource.get("differential")).get("element")):
            problems.append(f"{path}.differential: must list the constrained elements")
    concepts = [concept.get("code") for concept in _dicts(resource.get("concept"))]
    if len(concepts) != len(set(concepts)):
        problems.append(f"{path}.concept: codes must be unique")
    if resource.get("resourceType") == "CodeSystem" and resource.get("count") != len(concepts):
        problems.append(f"{path}.count: must equal the number of concepts")
    return problems


RULES: dict[str, Rule] = {
    "Bundle": _bundle,
    "MessageHeader": _message_header,
    "Patient": _patient,
    "Encounter": _encounter,
    "OperationOutcome": _operation_outcome,
    "CapabilityStatement": _capability_statement,
    "CodeSystem": _conformance,
    "StructureDefinition": _conformance,
    "Appointment": profile_rules_events.appointment,
    "CarePlan": profile_rules_events.care_plan,
    "CareTeam": profile_rules_events.care_team,
    "Consent": profile_rules_events.consent,
    "EpisodeOfCare": profile_rules_events.episode_of_care,
}
