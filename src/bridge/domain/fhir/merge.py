"""Patient merge (ADT^A40) in FHIR: ``Patient.link`` between the surviving and the prior identity.

The surviving Patient (the message's focus) links ``replaces`` to a second Patient entry that
holds only the prior identifier, is ``active: false`` and links back ``replaced-by``. Inbound, a
``replaces`` link may instead carry the prior identifier inline (``link.other.identifier``).
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.entries import EntryIds, Json
from bridge.domain.fhir.person_identifiers import patient_identifier, read_patient_identifiers
from bridge.domain.fhir.reader import obj, opt_list, opt_obj, opt_str
from bridge.domain.fhir.write_stay import security_meta
from bridge.domain.model import Patient, PatientIdentifier, PatientMerge

PRIOR = "PriorPatient"


def write_merge(patient: Json, merge: PatientMerge, person: Patient, ids: EntryIds) -> Json:
    """Link ``patient`` (the surviving resource, changed in place); return the prior Patient."""
    patient["link"] = [{"other": ids.reference(PRIOR), "type": "replaces"}]
    return {
        "resourceType": "Patient",
        "id": ids[PRIOR],
        "meta": security_meta(person, codes.PATIENT_PROFILE),
        "identifier": [patient_identifier(merge.prior_identifier)],
        "active": False,
        "link": [{"other": ids.reference("Patient"), "type": "replaced-by"}],
    }


def read_merge(index: BundleIndex, surviving: int) -> PatientMerge:
    path = index.path(surviving)
    for position, link in enumerate(opt_list(index.resources[surviving], "link", path)):
        link_path = f"{path}.link[{position}]"
        link = obj(link, link_path)
        if opt_str(link, "type", link_path) != "replaces":
            continue
        other = opt_obj(link, "other", link_path)
        found = None if other is None else _prior(index, other, f"{link_path}.other")
        if found is not None:
            return PatientMerge(prior_identifier=found)
    found = _linked_back(index, surviving)
    if found is None:
        raise MessageRejected(
            "a patient-merge message needs Patient.link of type 'replaces' naming the prior "
            "identity (a Patient entry or an identifier with an HL7 Sweden system)",
            f"{path}.link",
            code="required",
        )
    return PatientMerge(prior_identifier=found)


def _prior(index: BundleIndex, other: Json, path: str) -> PatientIdentifier | None:
    target = opt_str(other, "reference", path)
    position = None if target is None else index.resolve(target)
    if position is not None and index.type_of(position) == "Patient":
        return _first_identifier(index, position)
    identifier = opt_obj(other, "identifier", path)
    if identifier is None:
        return None
    found = read_patient_identifiers([identifier], f"{path}.identifier")
    return found[0] if found else None


def _first_identifier(index: BundleIndex, position: int) -> PatientIdentifier | None:
    path = index.path(position)
    items = opt_list(index.resources[position], "identifier", path)
    found = read_patient_identifiers(items, f"{path}.identifier")
    return found[0] if found else None


def _linked_back(index: BundleIndex, surviving: int) -> PatientIdentifier | None:
    """A Patient entry that says it was ``replaced-by`` the surviving one."""
    for position, resource in enumerate(index.resources):
        if position == surviving or resource["resourceType"] != "Patient":
            continue
        path = index.path(position)
        for number, link in enumerate(opt_list(resource, "link", path)):
            link_path = f"{path}.link[{number}]"
            link = obj(link, link_path)
            other = opt_obj(link, "other", link_path) or {}
            target = opt_str(other, "reference", f"{link_path}.other")
            if (
                opt_str(link, "type", link_path) == "replaced-by"
                and target is not None
                and index.resolve(target) == surviving
            ):
                return _first_identifier(index, position)
    return None
