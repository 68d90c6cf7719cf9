"""StructureDefinitions of the newer events' profiles and extensions (FHIR R4 differentials).

SIP meeting (Appointment), SIP plan (CarePlan, CareTeam, Consent), home-care enrolment
(EpisodeOfCare), and the extensions they use: responsible party, overall responsibility and
ward code. :mod:`bridge.domain.fhir.profile_rules_events` checks the same rules in code.
"""

from __future__ import annotations

from typing import Any

from bridge.domain.fhir import codes
from bridge.domain.fhir.structure_definitions import (
    _constraint,
    _extension,
    _extension_slice,
    _extension_slicing,
    _structure,
)

Json = dict[str, Any]

_BASE = "http://hl7.org/fhir/StructureDefinition/"


def event_structure_definitions() -> list[Json]:
    return [
        _ward_code(),
        _party_extension(
            "responsible-party", "ResponsibleParty", "Responsible party",
            "Which huvudman a SIP participant represents or answers for an intervention: region, "
            "municipality or other.",
            ["Appointment.participant", "CareTeam.participant", "CarePlan.activity.detail"],
        ),
        _party_extension(
            "overall-responsibility", "OverallResponsibility", "Overall responsibility",
            "Who holds the overall responsibility (övergripande ansvar) for a SIP.", ["CarePlan"],
        ),
        appointment_profile(),
        care_plan_profile(),
        care_team_profile(),
        consent_profile(),
        episode_of_care_profile(),
        service_request_profile(),
        order_task_profile(),
    ]  # fmt: skip


def _value_elements(url: str, title: str, description: str, value: Json) -> list[Json]:
    return [
        {"id": "Extension", "path": "Extension", "short": title, "definition": description,
         "max": "1"},
        {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
        {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, **value},
    ]  # fmt: skip


def _ward_code() -> Json:
    description = (
        "The local code of a ward or care unit (avdelningskod; HL7 v2 PV1-3 PL-1), on a "
        "reference that names the unit by HSA-id."
    )
    extension = _extension("ward-code", "WardCode", "Ward code", description, "Reference")
    extension["differential"]["element"] = _value_elements(
        codes.WARD_CODE_URL, "Ward code", description, {"type": [{"code": "string"}]}
    )
    return extension


def _party_extension(
    sd_id: str, name: str, title: str, description: str, contexts: list[str]
) -> Json:
    extension = _extension(sd_id, name, title, description, contexts[0])
    extension["context"] = [{"type": "element", "expression": item} for item in contexts]
    value = {
        "type": [{"code": "Coding"}],
        "patternCoding": {"system": codes.RESPONSIBLE_PARTY_SYSTEM},
    }
    extension["differential"]["element"] = _value_elements(
        f"{codes.EXTENSION_BASE}{sd_id}", title, description, value
    )
    return extension


def _identifier(resource: str, system: str, short: str) -> list[Json]:
    return [
        {"id": f"{resource}.identifier", "path": f"{resource}.identifier", "min": 1,
         "short": short},
        {"id": f"{resource}.identifier.system", "path": f"{resource}.identifier.system",
         "min": 1, "fixedUri": system},
    ]  # fmt: skip


def _patient_reference(resource: str, element: str) -> Json:
    return {
        "id": f"{resource}.{element}",
        "path": f"{resource}.{element}",
        "min": 1,
        "type": [{"code": "Reference", "targetProfile": [codes.PATIENT_PROFILE]}],
    }


def _status(resource: str, allowed: list[str], short: str) -> Json:
    rule = " or ".join(f"$this = '{value}'" for value in allowed)
    key = f"bridge-{resource.lower()[:3]}-st"
    return {
        "id": f"{resource}.status", "path": f"{resource}.status", "short": short,
        "constraint": [_constraint(key, f"status is {', '.join(allowed)}", rule)],
    }  # fmt: skip


def appointment_profile() -> Json:
    elements: list[Json] = [
        *_identifier("Appointment", codes.SIP_MEETING_ID_SYSTEM, "The SIP meeting's id (SCH-2)"),
        _status("Appointment", ["booked", "cancelled"], "booked (S12, S13) or cancelled (S15)"),
        {"id": "Appointment.start", "path": "Appointment.start", "short": "TQ1-7 / SCH-11.4"},
        {"id": "Appointment.end", "path": "Appointment.end", "short": "TQ1-8 / SCH-11.5"},
        {"id": "Appointment.participant", "path": "Appointment.participant",
         "short": "The patient; persons (Practitioner) and units (HealthcareService) by HSA-id, "
                  "role as type.text; the place as a Location by display"},
        _extension_slicing("Appointment.participant"),
        _extension_slice("Appointment.participant", "responsibleParty", "responsible-party"),
    ]  # fmt: skip
    return _structure(
        "bridge-appointment", "BridgeAppointment", "SIP meeting",
        "A coordinated individual planning meeting (kallelse till SIP); HL7 v2 SIU^S12/S13/S15.",
        "Appointment", elements,
    )  # fmt: skip


def care_plan_profile() -> Json:
    detail = "CarePlan.activity.detail"
    elements: list[Json] = [
        _extension_slicing("CarePlan"),
        _extension_slice("CarePlan", "overallResponsibility", "overall-responsibility"),
        *_identifier("CarePlan", codes.SIP_PLAN_ID_SYSTEM, "The SIP's id in TakeCare's SIP module"),
        _status("CarePlan", ["active", "completed", "revoked"],
                "active (established, updated), completed or revoked (closed)"),
        {"id": "CarePlan.intent", "path": "CarePlan.intent", "fixedCode": "plan"},
        _patient_reference("CarePlan", "subject"),
        {"id": "CarePlan.careTeam", "path": "CarePlan.careTeam", "max": "1",
         "type": [{"code": "Reference", "targetProfile": [codes.CARETEAM_PROFILE]}]},
        {"id": "CarePlan.supportingInfo", "path": "CarePlan.supportingInfo",
         "short": "The person's consent (Consent)"},
        {"id": detail, "path": detail, "min": 1, "short": "One intervention (insats)"},
        _extension_slicing(detail),
        {**_extension_slice(detail, "responsibleParty", "responsible-party"), "min": 1},
        {"id": f"{detail}.description", "path": f"{detail}.description", "min": 1},
        {"id": f"{detail}.performer", "path": f"{detail}.performer", "max": "1",
         "short": "The performing unit, by HSA-id"},
    ]  # fmt: skip
    return _structure(
        "bridge-careplan", "BridgeCarePlan", "SIP: samordnad individuell plan",
        "A coordinated individual plan agreed by region and municipality (FHIR only).",
        "CarePlan", elements,
    )  # fmt: skip


def care_team_profile() -> Json:
    elements: list[Json] = [
        _patient_reference("CareTeam", "subject"),
        {"id": "CareTeam.participant.member", "path": "CareTeam.participant.member", "min": 1,
         "short": "A person (Practitioner) or a unit (Organization), by HSA-id"},
        _extension_slicing("CareTeam.participant"),
        _extension_slice("CareTeam.participant", "responsibleParty", "responsible-party"),
    ]  # fmt: skip
    return _structure(
        "bridge-careteam", "BridgeCareTeam", "SIP care team",
        "Who takes part in a SIP, with role and the party each represents.", "CareTeam", elements,
    )  # fmt: skip


def consent_profile() -> Json:
    elements: list[Json] = [
        _status("Consent", ["active", "inactive"], "active = given, inactive = withdrawn"),
        {"id": "Consent.scope", "path": "Consent.scope",
         "patternCodeableConcept": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM,
                                                "code": "treatment"}]}},
        _patient_reference("Consent", "patient"),
        {"id": "Consent.dateTime", "path": "Consent.dateTime", "short": "When it was recorded"},
        {"id": "Consent.policyRule", "path": "Consent.policyRule", "min": 1,
         "short": "v3-ActCode OPTIN (given) or OPTOUT (withdrawn)"},
    ]  # fmt: skip
    return _structure(
        "bridge-consent", "BridgeConsent", "Consent to a SIP",
        "The person's consent (samtycke) to coordinated individual planning.", "Consent",
        elements,
    )  # fmt: skip


def episode_of_care_profile() -> Json:
    elements: list[Json] = [
        *_identifier("EpisodeOfCare", codes.HOMECARE_EPISODE_ID_SYSTEM,
                     "The enrolment's id in Treserva (HL7 v2 PV1-19)"),
        _status("EpisodeOfCare", ["active", "finished"], "active (started) or finished (ended)"),
        _patient_reference("EpisodeOfCare", "patient"),
        {"id": "EpisodeOfCare.managingOrganization", "path": "EpisodeOfCare.managingOrganization",
         "short": "The home-care unit, by HSA-id (HL7 v2 PV1-3)"},
        {"id": "EpisodeOfCare.period", "path": "EpisodeOfCare.period",
         "short": "start = enrolled (PV1-44), end = enrolment ended (PV1-45)"},
    ]  # fmt: skip
    return _structure(
        "bridge-episode-of-care", "BridgeEpisodeOfCare", "Home health care enrolment",
        "Inskrivning i hemsjukvården, Treserva → TakeCare; HL7 v2 ADT^A01/A03 with PV1-10 HHC.",
        "EpisodeOfCare", elements,
    )  # fmt: skip


def service_request_profile() -> Json:
    elements: list[Json] = [
        *_identifier("ServiceRequest", codes.HOMECARE_ORDER_ID_SYSTEM,
                     "The order id (HL7 v2 RF1-6)"),
        _status("ServiceRequest", ["active", "revoked", "on-hold"],
                "active (requested, accepted), revoked (rejected) or on-hold"),
        _patient_reference("ServiceRequest", "subject"),
        {"id": "ServiceRequest.category", "path": "ServiceRequest.category",
         "short": "hemsjukvard or hemtjanst (HL7 v2 RF1-3)"},
        {"id": "ServiceRequest.requester", "path": "ServiceRequest.requester", "min": 1,
         "short": "The referring unit, by HSA-id (HL7 v2 PRD with PRD-1 RP)"},
        {"id": "ServiceRequest.performer", "path": "ServiceRequest.performer",
         "short": "The municipal unit asked (HL7 v2 PRD with PRD-1 RT)"},
        {"id": "ServiceRequest.note", "path": "ServiceRequest.note",
         "short": "What is ordered (HL7 v2 NTE with NTE-4 GI)"},
    ]  # fmt: skip
    return _structure(
        "bridge-homecare-service-request", "BridgeHomeCareServiceRequest", "Home-care order",
        "Beställning av hemsjukvård eller hemtjänst; HL7 v2 REF^I12 (docs/orders.md).",
        "ServiceRequest", elements,
    )  # fmt: skip


def order_task_profile() -> Json:
    elements: list[Json] = [
        *_identifier("Task", codes.HOMECARE_ORDER_ID_SYSTEM, "The order id (HL7 v2 RF1-6)"),
        _status("Task", ["requested", "accepted", "rejected", "on-hold"],
                "requested, accepted, rejected or on-hold (need more information); RF1-1"),
        _patient_reference("Task", "for"),
        {"id": "Task.focus", "path": "Task.focus", "min": 1, "short": "The ServiceRequest"},
        {"id": "Task.requester", "path": "Task.requester", "min": 1,
         "short": "The referring unit, by HSA-id: where the answer goes"},
        {"id": "Task.statusReason", "path": "Task.statusReason",
         "short": "Why rejected, or what information is missing (HL7 v2 NTE with NTE-4 GR)"},
    ]  # fmt: skip
    return _structure(
        "bridge-homecare-order-task", "BridgeHomeCareOrderTask", "Home-care order workflow",
        "The order's state and the municipality's answer; HL7 v2 RRI^I12 (docs/orders.md).",
        "Task", elements,
    )  # fmt: skip
