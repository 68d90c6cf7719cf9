"""A received Encounter resource → canonical :class:`Encounter` and admission information."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bridge.domain.admission_type import ACT_PRIORITY, AdmissionType
from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import parse_datetime
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str, quoted
from bridge.domain.model import AdmissionInformation, CareUnit, Encounter

ClassCode = Literal["IMP", "AMB", "EMER"]
_CLASS_CODES: dict[str, ClassCode] = {
    "IMP": "IMP",
    "ACUTE": "IMP",
    "NONAC": "IMP",
    "AMB": "AMB",
    "EMER": "EMER",
}
_TEXT_EXTENSIONS = {
    codes.HOUSING_SITUATION_URL: "housing_situation",
    codes.SOCIAL_SITUATION_URL: "social_situation",
    codes.CARE_NEEDS_ASSESSMENT_URL: "care_needs_assessment",
}


def read_encounter(
    index: BundleIndex, position: int
) -> tuple[Encounter, AdmissionInformation | None]:
    resource = index.resources[position]
    path = index.path(position)
    period = opt_obj(resource, "period", path) or {}
    extensions = extension_map(resource, path)
    encounter = Encounter(
        visit_number=_visit_number(resource, path),
        class_code=_class_code(resource, path),
        admission_type=_admission_type(resource, path),
        admitted_at=_time(period, "start", f"{path}.period"),
        discharged_at=_time(period, "end", f"{path}.period"),
        unit=_unit(index, resource, path),
        estimated_discharge=_estimated_discharge(extensions),
    )
    return encounter, _admission_information(resource, path, extensions)


def extension_map(resource: Json, path: str) -> dict[str, tuple[Json, str]]:
    """Each extension by url (first one wins), with its path."""
    found: dict[str, tuple[Json, str]] = {}
    for index, extension in enumerate(opt_list(resource, "extension", path)):
        extension_path = f"{path}.extension[{index}]"
        extension = obj(extension, extension_path)
        url = opt_str(extension, "url", extension_path)
        if url is None:
            raise MessageRejected("every extension needs a url", f"{extension_path}.url")
        found.setdefault(url, (extension, extension_path))
    return found


def _time(parent: Json, key: str, path: str) -> datetime | None:
    value = parent.get(key)
    return None if value is None else parse_datetime(value, f"{path}.{key}")


def _class_code(resource: Json, path: str) -> ClassCode:
    coding = opt_obj(resource, "class", path)
    if coding is None:
        raise MessageRejected("Encounter.class is required (v3-ActCode IMP)", f"{path}.class")
    code = opt_str(coding, "code", f"{path}.class")
    if code not in _CLASS_CODES:
        raise MessageRejected(
            f"unknown encounter class {quoted(code)}: use IMP, AMB or EMER from v3-ActCode",
            f"{path}.class.code",
        )
    return _CLASS_CODES[code]


def _admission_type(resource: Json, path: str) -> AdmissionType | None:
    """Encounter.priority (v3 ActPriority): the first coding the bridge knows; else none."""
    priority = opt_obj(resource, "priority", path)
    if priority is None:
        return None
    for index, coding in enumerate(opt_list(priority, "coding", f"{path}.priority")):
        coding_path = f"{path}.priority.coding[{index}]"
        code = opt_str(obj(coding, coding_path), "code", coding_path)
        if code is not None and code.upper() in ACT_PRIORITY:
            return ACT_PRIORITY[code.upper()]
    return None


def _visit_number(resource: Json, path: str) -> str | None:
    first: str | None = None
    for index, identifier in enumerate(opt_list(resource, "identifier", path)):
        identifier_path = f"{path}.identifier[{index}]"
        identifier = obj(identifier, identifier_path)
        value = opt_str(identifier, "value", identifier_path)
        if value is not None and _is_visit_number(identifier, identifier_path):
            return value
        first = first or value
    return first


def _is_visit_number(identifier: Json, path: str) -> bool:
    type_ = opt_obj(identifier, "type", path)
    codings = [] if type_ is None else opt_list(type_, "coding", f"{path}.type")
    return any(isinstance(coding, dict) and coding.get("code") == "VN" for coding in codings)


def _unit(index: BundleIndex, resource: Json, path: str) -> CareUnit | None:
    for position, location in enumerate(opt_list(resource, "location", path)):
        location_path = f"{path}.location[{position}]"
        reference = opt_obj(obj(location, location_path), "location", location_path)
        if reference is not None:
            unit = index.unit(reference, f"{location_path}.location", "Location")
            if unit is not None:
                return unit
    provider = opt_obj(resource, "serviceProvider", path)
    if provider is None:
        return None
    return index.unit(provider, f"{path}.serviceProvider", "Organization")


def _estimated_discharge(extensions: dict[str, tuple[Json, str]]) -> datetime | None:
    found = extensions.get(codes.ESTIMATED_DISCHARGE_URL)
    if found is None:
        return None
    extension, path = found
    if "valueDateTime" in extension:
        return parse_datetime(extension["valueDateTime"], f"{path}.valueDateTime")
    if "valueDate" in extension:
        return parse_datetime(extension["valueDate"], f"{path}.valueDate")
    raise MessageRejected("needs a valueDateTime", f"{path}.valueDateTime")


def _admission_information(
    resource: Json, path: str, extensions: dict[str, tuple[Json, str]]
) -> AdmissionInformation | None:
    fields: dict[str, str] = {}
    for url, field in _TEXT_EXTENSIONS.items():
        found = extensions.get(url)
        if found is not None:
            extension, extension_path = found
            text = opt_str(extension, "valueString", extension_path)
            if text is None:
                raise MessageRejected("needs a valueString", f"{extension_path}.valueString")
            fields[field] = text
    reason = _reason(resource, path)
    if reason is not None:
        fields["reason_for_admission"] = reason
    return AdmissionInformation(**fields) if fields else None


def _reason(resource: Json, path: str) -> str | None:
    """reasonCode text, else the first coding's display, else its code (like PV2-3)."""
    reasons = opt_list(resource, "reasonCode", path)
    if not reasons:
        return None
    reason_path = f"{path}.reasonCode[0]"
    reason = obj(reasons[0], reason_path)
    text = opt_str(reason, "text", reason_path)
    if text is not None:
        return text
    for position, coding in enumerate(opt_list(reason, "coding", reason_path)):
        coding_path = f"{reason_path}.coding[{position}]"
        coding = obj(coding, coding_path)
        label = opt_str(coding, "display", coding_path) or opt_str(coding, "code", coding_path)
        if label is not None:
            return label
    return None
