"""SIP participants and responsible parties (huvudman), shared by Appointment and CareTeam.

A participant is a person (``Practitioner``) or a unit (``HealthcareService`` in an Appointment,
``Organization`` in a CareTeam) named by a logical reference: HSA identifier and display. The
party a participant represents, and the party answering for an intervention, is the extension
``responsible-party`` (valueCoding from the bridge's ``responsible-party`` code system).
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex, hsa_of_reference
from bridge.domain.fhir.entries import Json, party_extension, put
from bridge.domain.fhir.reader import obj, opt_list, opt_obj, opt_str, quoted
from bridge.domain.identifiers import HSA_SYSTEM
from bridge.domain.model import Participant, ResponsibleParty

PERSON_TYPES = frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"})
UNIT_TYPES = frozenset({"HealthcareService", "Organization", "CareTeam"})


def actor_reference(participant: Participant, unit_type: str) -> Json:
    """The reference to a participant: Practitioner for a person, ``unit_type`` for a unit."""
    resource_type = "Practitioner" if participant.kind == "person" else unit_type
    reference: Json = {"type": resource_type}
    if participant.hsa_id:
        reference["identifier"] = {"system": HSA_SYSTEM, "value": participant.hsa_id}
    put(reference, "display", participant.name)
    return reference


def party_extensions(party: ResponsibleParty | None) -> list[Json]:
    return [] if party is None else [party_extension(codes.RESPONSIBLE_PARTY_URL, party)]


def read_party(element: Json, path: str, url: str) -> ResponsibleParty | None:
    """The responsible-party coding in the extension ``url`` of ``element``, if any."""
    for index, extension in enumerate(opt_list(element, "extension", path)):
        extension_path = f"{path}.extension[{index}]"
        extension = obj(extension, extension_path)
        if opt_str(extension, "url", extension_path) != url:
            continue
        coding_path = f"{extension_path}.valueCoding"
        coding = opt_obj(extension, "valueCoding", extension_path)
        code = None if coding is None else opt_str(coding, "code", coding_path)
        try:
            return ResponsibleParty(code or "")
        except ValueError:
            raise MessageRejected(
                f"unknown responsible party {quoted(code)}: use region, municipality or other "
                f"from {codes.RESPONSIBLE_PARTY_SYSTEM}",
                f"{coding_path}.code",
            ) from None
    return None


def read_actor(
    index: BundleIndex, reference: Json, path: str, role: str | None, party: ResponsibleParty | None
) -> Participant | None:
    """A participant from a reference; None for the patient and for anything else not a party."""
    target = opt_str(reference, "reference", path)
    position = None if target is None else index.resolve(target)
    declared = opt_str(reference, "type", path)
    if position is not None:
        declared = index.type_of(position)
        resource = index.resources[position]
        name = opt_str(reference, "display", path) or _resource_name(resource, index.path(position))
    else:
        name = opt_str(reference, "display", path)
    if declared in PERSON_TYPES:
        kind = "person"
    elif declared in UNIT_TYPES:
        kind = "unit"
    else:
        return None
    return Participant(
        kind=kind, name=name, hsa_id=hsa_of_reference(reference, path), role=role, party=party
    )


def _resource_name(resource: Json, path: str) -> str | None:
    name = resource.get("name")
    if isinstance(name, str):
        return opt_str(resource, "name", path)
    names = opt_list(resource, "name", path)
    if not names:
        return None
    first = obj(names[0], f"{path}.name[0]")
    return opt_str(first, "text", f"{path}.name[0]") or opt_str(first, "family", f"{path}.name[0]")
