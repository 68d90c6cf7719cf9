"""Check a FHIR resource: R4 structure (fhir.resources R4B models) and the project's profiles.

FHIR R4 (4.0.1) has no model package in fhir.resources 8; R4B (4.3.0) is structurally the same
for every element the bridge uses (Bundle, MessageHeader, Patient, Encounter, Organization,
OperationOutcome, CapabilityStatement, CodeSystem, StructureDefinition; see docs/mapping.md).
R4B is slightly more permissive: it knows data types R4 lacks (CodeableReference, RatioRange),
so the profile rules also check what R4B would let through. The models check structure and
primitive formats but not required codes (e.g. ``gender: "x"`` passes them); the profile rules
check the codes the bridge depends on. Slow (milliseconds): for tests and the contract check,
not for the message path.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from bridge.domain.fhir.profile_rules import profile_problems


def validate_resource(resource: dict[str, Any]) -> list[str]:
    """Every problem found, as ``FHIRPath: message``; an empty list means valid."""
    if not isinstance(resource, dict):
        return ["resource: must be a JSON object"]
    return structure_problems(resource) + profile_problems(resource)


def structure_problems(resource: dict[str, Any]) -> list[str]:
    """What the R4B model of ``resource`` finds wrong with it."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return ["resourceType: is required"]
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return [f"resourceType: unknown resource type {resource_type!r}"]
    try:
        model.model_validate(resource)
    except ValidationError as error:
        return [_describe(resource_type, detail) for detail in error.errors()]
    return []


def _describe(resource_type: str, detail: Any) -> str:
    path = resource_type
    for part in detail["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return f"{path}: {detail['msg']}"
