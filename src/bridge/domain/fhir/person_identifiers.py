"""Patient.identifier ⇄ :class:`PatientIdentifier` (HL7 Sweden identifier systems).

Personnummer and samordningsnummer use the HL7 Sweden systems (``urn:oid:`` forms are accepted
too) and are validated with their check digit; the number itself decides which of the two it is
(day of birth + 60), as in the HL7 v2 mapping. A local reservnummer is marked by identifier type
``PI`` (``RN`` accepted) from v2-0203; its system is ``urn:oid:<assigner>`` when the assigning
authority is an OID, else ``urn:bridge:local-reservnummer`` with the authority in
``Identifier.assigner.display``. Identifiers in any other system are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str
from bridge.domain.identifiers import (
    NATIONELLT_RESERVNUMMER_SYSTEM,
    IdentifierKind,
    normalise_person_number,
)
from bridge.domain.model import PatientIdentifier

_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_LOCAL_TYPE_CODES = frozenset({"PI", "RN"})
_MAX_VALUE = 64
_SWEDISH_SYSTEMS = frozenset({*codes.PERSON_NUMBER_SYSTEMS, *codes.RESERVNUMMER_SYSTEMS})


def patient_identifier(ident: PatientIdentifier) -> Json:
    """The FHIR Identifier for one canonical identifier."""
    if ident.kind is IdentifierKind.LOKALT_RESERVNUMMER:
        return _local_reservnummer(ident)
    if ident.kind is IdentifierKind.NATIONELLT_RESERVNUMMER:
        return {"system": NATIONELLT_RESERVNUMMER_SYSTEM, "value": ident.value}
    return {"system": ident.system, "value": ident.value}


def _local_reservnummer(ident: PatientIdentifier) -> Json:
    result: Json = {
        "type": {
            "coding": [{"system": codes.IDENTIFIER_TYPE_SYSTEM, "code": "PI"}],
            "text": "lokalt reservnummer",
        }
    }
    assigner = ident.assigner
    oid_system = f"urn:oid:{assigner}" if assigner and _OID.fullmatch(assigner) else None
    if oid_system and oid_system not in _SWEDISH_SYSTEMS:
        result["system"] = oid_system
        result["value"] = ident.value
        return result
    result["system"] = codes.LOCAL_RESERVNUMMER_SYSTEM
    result["value"] = ident.value
    if assigner:
        result["assigner"] = {"display": assigner}
    return result


def read_patient_identifiers(items: list[Any], path: str) -> tuple[PatientIdentifier, ...]:
    """The Swedish identifiers among ``Patient.identifier`` (``path`` names that array)."""
    found: list[PatientIdentifier] = []
    for index, item in enumerate(items):
        ident = _read_one(obj(item, f"{path}[{index}]"), f"{path}[{index}]")
        if ident is not None:
            found.append(ident)
    return tuple(found)


def _read_one(item: Json, path: str) -> PatientIdentifier | None:
    system = opt_str(item, "system", path)
    kind = codes.PERSON_NUMBER_SYSTEMS.get(system or "")
    if kind is not None:
        number = _value(item, path)
        if not number.isascii():
            raise MessageRejected("must be written with the digits 0-9", f"{path}.value")
        kind, digits = normalise_person_number(number, location=f"{path}.value")
        return PatientIdentifier(kind=kind, value=digits)
    if system in codes.RESERVNUMMER_SYSTEMS:
        value = _value(item, path)
        return PatientIdentifier(kind=IdentifierKind.NATIONELLT_RESERVNUMMER, value=value)
    if system == codes.LOCAL_RESERVNUMMER_SYSTEM or _has_local_type(item, path):
        assigner = _assigner(item, system, path)
        value = _value(item, path)
        return PatientIdentifier(
            kind=IdentifierKind.LOKALT_RESERVNUMMER, value=value, assigner=assigner
        )
    return None


def _value(item: Json, path: str) -> str:
    value = opt_str(item, "value", path)
    if value is None:
        raise MessageRejected("a Swedish patient identifier needs a value", f"{path}.value")
    if len(value) > _MAX_VALUE:
        raise MessageRejected(f"is longer than {_MAX_VALUE} characters", f"{path}.value")
    return value


def _has_local_type(item: Json, path: str) -> bool:
    type_ = opt_obj(item, "type", path)
    if type_ is None:
        return False
    for index, coding in enumerate(opt_list(type_, "coding", f"{path}.type")):
        coding_path = f"{path}.type.coding[{index}]"
        coding = obj(coding, coding_path)
        if (
            opt_str(coding, "system", coding_path) == codes.IDENTIFIER_TYPE_SYSTEM
            and opt_str(coding, "code", coding_path) in _LOCAL_TYPE_CODES
        ):
            return True
    return False


def _assigner(item: Json, system: str | None, path: str) -> str | None:
    if system and system != codes.LOCAL_RESERVNUMMER_SYSTEM:
        return system.removeprefix("urn:oid:")
    reference = opt_obj(item, "assigner", path)
    return None if reference is None else opt_str(reference, "display", f"{path}.assigner")
