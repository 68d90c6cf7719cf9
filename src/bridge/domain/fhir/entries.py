"""Pieces every FHIR writer shares: stable entry ids, entries, references to care units.

Entry ids are UUIDv5 of the Bundle id and the entry's role (``Patient``, ``CarePlan``, …), so one
delivery always encodes to the same bytes, and fullUrls are ``urn:uuid:<id>``.
"""

from __future__ import annotations

import uuid
from typing import Any

from bridge.domain.fhir import codes
from bridge.domain.identifiers import HSA_SYSTEM
from bridge.domain.model import CareUnit, ResponsibleParty

Json = dict[str, Any]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, codes.CANONICAL_BASE)


class EntryIds:
    """Stable resource ids for one Bundle's entries, by role; created on first use."""

    __slots__ = ("_bundle_id", "_ids")

    def __init__(self, bundle_id: str) -> None:
        self._bundle_id = bundle_id
        self._ids: dict[str, str] = {}

    def __getitem__(self, role: str) -> str:
        found = self._ids.get(role)
        if found is None:
            found = str(uuid.uuid5(_NAMESPACE, f"{self._bundle_id}/{role}"))
            self._ids[role] = found
        return found

    def url(self, role: str) -> str:
        return f"urn:uuid:{self[role]}"

    def reference(self, role: str) -> Json:
        return {"reference": self.url(role)}

    # The roles of the original three entries, under their historical names.
    @property
    def header(self) -> str:
        return self["MessageHeader"]

    @property
    def patient(self) -> str:
        return self["Patient"]

    @property
    def encounter(self) -> str:
        return self["Encounter"]


def entry(resource: Json) -> Json:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def put(target: Json, key: str, value: str | None) -> None:
    """Set ``key`` only for a non-empty value: FHIR has no empty strings."""
    if value:
        target[key] = value


def put_list(target: Json, key: str, values: tuple[str, ...]) -> None:
    kept = [value for value in values if value]
    if kept:
        target[key] = kept


def unit_reference(resource_type: str, unit: CareUnit) -> Json:
    """A logical reference to a care unit: HSA identifier, name, and the ward-code extension."""
    reference: Json = {"type": resource_type}
    if unit.code:
        reference["extension"] = [{"url": codes.WARD_CODE_URL, "valueString": unit.code}]
    if unit.hsa_id:
        reference["identifier"] = {"system": HSA_SYSTEM, "value": unit.hsa_id}
    put(reference, "display", unit.name)
    return reference


def party_extension(url: str, party: ResponsibleParty) -> Json:
    """An extension whose value is a responsible-party coding (region, municipality, other)."""
    return {
        "url": url,
        "valueCoding": {
            "system": codes.RESPONSIBLE_PARTY_SYSTEM,
            "code": party.value,
            "display": codes.RESPONSIBLE_PARTY_DISPLAY[party],
        },
    }


def bridge_identifier(system: str, value: str) -> Json:
    return {"system": system, "value": value}
