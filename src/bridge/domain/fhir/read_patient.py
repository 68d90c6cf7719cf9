"""A received Patient resource → canonical :class:`Patient`."""

from __future__ import annotations

from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import parse_date
from bridge.domain.fhir.person_identifiers import read_patient_identifiers
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str, quoted, str_list
from bridge.domain.model import (
    SECURITY_LABEL_SYSTEM,
    Address,
    CareUnit,
    ContactPoint,
    HumanName,
    Patient,
    SecurityLabel,
)

Gender = Literal["male", "female", "other", "unknown"]
_GENDERS: dict[str, Gender] = {
    "male": "male",
    "female": "female",
    "other": "other",
    "unknown": "unknown",
}

NO_SWEDISH_IDENTIFIER = (
    "the Patient has no Swedish identifier: send a personnummer, samordningsnummer or "
    "reservnummer with its HL7 Sweden system"
)


def read_patient(index: BundleIndex, position: int) -> Patient:
    resource = index.resources[position]
    path = index.path(position)
    identifiers = read_patient_identifiers(
        opt_list(resource, "identifier", path), f"{path}.identifier"
    )
    if not identifiers:
        raise MessageRejected(NO_SWEDISH_IDENTIFIER, f"{path}.identifier")
    birth_date = opt_str(resource, "birthDate", path)
    labels, unrecognised = _security_labels(resource, path)
    return Patient(
        identifiers=identifiers,
        name=_name(resource, path),
        birth_date=None if birth_date is None else parse_date(birth_date, f"{path}.birthDate"),
        gender=_gender(resource, path),
        address=_address(resource, path),
        telecom=_telecom(resource, path),
        security_labels=labels,
        unrecognised_restrictions=unrecognised,
        primary_care_unit=_primary_care_unit(index, resource, path),
    )


def _telecom(resource: Json, path: str) -> tuple[ContactPoint, ...]:
    """Telephone numbers and e-mail addresses (other systems are not kept); ``use`` work stays
    work, any other use is read as home (HL7 v2 has the two, PID-13 and PID-14)."""
    found: list[ContactPoint] = []
    for position, item in enumerate(opt_list(resource, "telecom", path)):
        item_path = f"{path}.telecom[{position}]"
        point = obj(item, item_path)
        system, value = opt_str(point, "system", item_path), opt_str(point, "value", item_path)
        if system not in ("phone", "email") or value is None:
            continue
        use: Literal["home", "work"] = (
            "work" if opt_str(point, "use", item_path) == "work" else "home"
        )
        found.append(
            ContactPoint(system="phone" if system == "phone" else "email", value=value, use=use)
        )
    return tuple(found)


def _first(resource: Json, key: str, path: str) -> tuple[Json, str] | None:
    """The first item of a repeating element; the one with ``use`` official/home when present."""
    items = opt_list(resource, key, path)
    if not items:
        return None
    chosen = 0
    for index, item in enumerate(items):
        item_path = f"{path}.{key}[{index}]"
        if opt_str(obj(item, item_path), "use", item_path) in ("official", "home"):
            chosen = index
            break
    item_path = f"{path}.{key}[{chosen}]"
    return obj(items[chosen], item_path), item_path


def _name(resource: Json, path: str) -> HumanName | None:
    found = _first(resource, "name", path)
    if found is None:
        return None
    name, name_path = found
    return HumanName(
        family=opt_str(name, "family", name_path), given=str_list(name, "given", name_path)
    )


def _gender(resource: Json, path: str) -> Gender | None:
    gender = opt_str(resource, "gender", path)
    if gender is None:
        return None
    if gender not in _GENDERS:
        raise MessageRejected(
            f"unknown gender {quoted(gender)}: use male, female, other or unknown",
            f"{path}.gender",
        )
    return _GENDERS[gender]


def _address(resource: Json, path: str) -> Address | None:
    found = _first(resource, "address", path)
    if found is None:
        return None
    address, address_path = found
    return Address(
        lines=str_list(address, "line", address_path),
        postal_code=opt_str(address, "postalCode", address_path),
        city=opt_str(address, "city", address_path),
        country=opt_str(address, "country", address_path),
    )


def _security_labels(resource: Json, path: str) -> tuple[frozenset[SecurityLabel], tuple[str, ...]]:
    """The HL7 Sweden labels, and every other ``meta.security`` coding the bridge does not
    recognise (treated as protected: fails closed, docs/security.md)."""
    meta = opt_obj(resource, "meta", path)
    if meta is None:
        return frozenset(), ()
    labels: set[SecurityLabel] = set()
    unrecognised: list[str] = []
    for index, coding in enumerate(opt_list(meta, "security", f"{path}.meta")):
        coding_path = f"{path}.meta.security[{index}]"
        coding = obj(coding, coding_path)
        system = opt_str(coding, "system", coding_path)
        code = opt_str(coding, "code", coding_path)
        if system == SECURITY_LABEL_SYSTEM and code in _KNOWN_LABELS:
            labels.add(SecurityLabel(code))
        elif not (system == _V3_CONFIDENTIALITY and code in _UNRESTRICTED):
            unrecognised.append(f"meta.security {_shown(system)}|{_shown(code)}")
    return frozenset(labels), tuple(dict.fromkeys(unrecognised))


_KNOWN_LABELS = frozenset(label.value for label in SecurityLabel)
_V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_UNRESTRICTED = frozenset({"U", "L", "N"})
"""HL7 v3 confidentiality codes that restrict nothing beyond normal health data."""


def _shown(value: str | None) -> str:
    return " ".join((value or "").split())[:60]


def _primary_care_unit(index: BundleIndex, resource: Json, path: str) -> CareUnit | None:
    for position, reference in enumerate(opt_list(resource, "generalPractitioner", path)):
        reference_path = f"{path}.generalPractitioner[{position}]"
        unit = index.unit(obj(reference, reference_path), reference_path, "Organization")
        if unit is not None:
            return unit
    return None
