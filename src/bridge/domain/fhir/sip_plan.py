"""SIP plan (samordnad individuell plan) ⇄ FHIR CarePlan + CareTeam + Consent.

The CarePlan is the message's focus: its interventions (insatser) are activities whose
``detail`` names the responsible party by extension and the performing unit as performer; the
overall responsibility is an extension on the CarePlan. The CareTeam (``CarePlan.careTeam``)
lists who takes part; the Consent (``CarePlan.supportingInfo``) records samtycke.
"""

from __future__ import annotations

from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import format_datetime, parse_datetime
from bridge.domain.fhir.entries import (
    EntryIds,
    Json,
    bridge_identifier,
    party_extension,
    unit_reference,
)
from bridge.domain.fhir.participants import (
    actor_reference,
    party_extensions,
    read_actor,
    read_party,
)
from bridge.domain.fhir.reader import (
    code_text,
    obj,
    opt_list,
    opt_obj,
    opt_str,
    quoted,
    required_identifier,
)
from bridge.domain.model import Participant, SipConsent, SipIntervention, SipPlan

TITLE = "Samordnad individuell plan (SIP)"
PlanStatus = Literal["active", "completed", "revoked"]
_PLAN_STATUSES: dict[str, PlanStatus] = {
    "active": "active",
    "completed": "completed",
    "revoked": "revoked",
}
_ACTIVITY_STATUS = {"active": "in-progress", "completed": "completed", "revoked": "cancelled"}
_CONSENT_STATUS = {"given": "active", "withdrawn": "inactive"}
_POLICY_RULE = {"given": "OPTIN", "withdrawn": "OPTOUT"}
ConsentStatus = Literal["given", "withdrawn"]
_CONSENT_READ: dict[str, ConsentStatus] = {
    "active": "given",
    "inactive": "withdrawn",
    "rejected": "withdrawn",
}


def write_sip_plan(plan: SipPlan, ids: EntryIds) -> list[Json]:
    """The CarePlan, then the CareTeam and the Consent when the plan has them."""
    care_plan = _care_plan(plan, ids)
    resources = [care_plan]
    if plan.care_team:
        care_plan["careTeam"] = [ids.reference("CareTeam")]
        resources.append(_care_team(plan, ids))
    if plan.consent is not None:
        care_plan["supportingInfo"] = [ids.reference("Consent")]
        resources.append(_consent(plan.consent, ids))
    return resources


def _care_plan(plan: SipPlan, ids: EntryIds) -> Json:
    resource: Json = {
        "resourceType": "CarePlan",
        "id": ids["CarePlan"],
        "meta": {"profile": [codes.CAREPLAN_PROFILE]},
    }
    if plan.overall_responsible is not None:
        resource["extension"] = [
            party_extension(codes.OVERALL_RESPONSIBILITY_URL, plan.overall_responsible)
        ]
    resource.update(
        identifier=[bridge_identifier(codes.SIP_PLAN_ID_SYSTEM, plan.plan_id)],
        status=plan.status,
        intent="plan",
        category=[{"text": "SIP"}],
        title=TITLE,
        subject=ids.reference("Patient"),
    )
    if plan.interventions:
        status = _ACTIVITY_STATUS[plan.status]
        resource["activity"] = [_activity(item, status) for item in plan.interventions]
    return resource


def _activity(intervention: SipIntervention, status: str) -> Json:
    detail: Json = {
        "extension": party_extensions(intervention.responsible),
        "status": status,
        "description": intervention.description,
    }
    if intervention.performer is not None:
        detail["performer"] = [unit_reference("Organization", intervention.performer)]
    return {"detail": detail}


def _care_team(plan: SipPlan, ids: EntryIds) -> Json:
    return {
        "resourceType": "CareTeam",
        "id": ids["CareTeam"],
        "meta": {"profile": [codes.CARETEAM_PROFILE]},
        "status": "active" if plan.status == "active" else "inactive",
        "name": "SIP",
        "subject": ids.reference("Patient"),
        "participant": [_member(member) for member in plan.care_team],
    }


def _member(member: Participant) -> Json:
    result: Json = {}
    extensions = party_extensions(member.party)
    if extensions:
        result["extension"] = extensions
    if member.role:
        result["role"] = [{"text": member.role}]
    result["member"] = actor_reference(member, "Organization")
    return result


def _consent(consent: SipConsent, ids: EntryIds) -> Json:
    resource: Json = {
        "resourceType": "Consent",
        "id": ids["Consent"],
        "meta": {"profile": [codes.CONSENT_PROFILE]},
        "status": _CONSENT_STATUS[consent.status],
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM, "code": "treatment"}]},
        "category": [{"coding": [{"system": codes.LOINC_SYSTEM, "code": "59284-0"}]}],
        "patient": ids.reference("Patient"),
    }
    if consent.recorded_at is not None:
        resource["dateTime"] = format_datetime(consent.recorded_at)
    rule = _POLICY_RULE[consent.status]
    resource["policyRule"] = {"coding": [{"system": codes.ACT_CODE_SYSTEM, "code": rule}]}
    return resource


def read_sip_plan(index: BundleIndex, position: int) -> SipPlan:
    resource = index.resources[position]
    path = index.path(position)
    status = opt_str(resource, "status", path)
    if status not in _PLAN_STATUSES:
        raise MessageRejected(
            f"a SIP is active, completed or revoked, not {quoted(status)}", f"{path}.status"
        )
    activities = opt_list(resource, "activity", path)
    return SipPlan(
        plan_id=required_identifier(resource, path, codes.SIP_PLAN_ID_SYSTEM, "a SIP"),
        status=_PLAN_STATUSES[status],
        overall_responsible=read_party(resource, path, codes.OVERALL_RESPONSIBILITY_URL),
        interventions=tuple(
            _intervention(index, item, f"{path}.activity[{number}]")
            for number, item in enumerate(activities)
        ),
        care_team=_read_care_team(index, resource, path),
        consent=_read_consent(index, resource, path),
    )


def _intervention(index: BundleIndex, activity: object, path: str) -> SipIntervention:
    detail = opt_obj(obj(activity, path), "detail", path)
    detail_path = f"{path}.detail"
    if detail is None:
        raise MessageRejected("a SIP intervention needs activity.detail", detail_path)
    description = opt_str(detail, "description", detail_path)
    if description is None:
        raise MessageRejected(
            "a SIP intervention needs a description", f"{detail_path}.description"
        )
    responsible = read_party(detail, detail_path, codes.RESPONSIBLE_PARTY_URL)
    if responsible is None:
        raise MessageRejected(
            "a SIP intervention names who answers for it (extension responsible-party)",
            f"{detail_path}.extension",
        )
    performer = None
    for number, item in enumerate(opt_list(detail, "performer", detail_path)):
        item_path = f"{detail_path}.performer[{number}]"
        performer = index.unit(obj(item, item_path), item_path, "Organization")
        if performer is not None:
            break
    return SipIntervention(description=description, responsible=responsible, performer=performer)


def _linked(index: BundleIndex, resource: Json, key: str, path: str, wanted: str) -> int | None:
    for number, item in enumerate(opt_list(resource, key, path)):
        item_path = f"{path}.{key}[{number}]"
        target = opt_str(obj(item, item_path), "reference", item_path)
        position = None if target is None else index.resolve(target)
        if position is not None and index.type_of(position) == wanted:
            return position
    return index.first_of(wanted)


def _read_care_team(index: BundleIndex, plan: Json, path: str) -> tuple[Participant, ...]:
    position = _linked(index, plan, "careTeam", path, "CareTeam")
    if position is None:
        return ()
    team, team_path = index.resources[position], index.path(position)
    members: list[Participant] = []
    for number, item in enumerate(opt_list(team, "participant", team_path)):
        item_path = f"{team_path}.participant[{number}]"
        item = obj(item, item_path)
        member = opt_obj(item, "member", item_path)
        if member is None:
            continue
        role = code_text(opt_list(item, "role", item_path), f"{item_path}.role")
        party = read_party(item, item_path, codes.RESPONSIBLE_PARTY_URL)
        found = read_actor(index, member, f"{item_path}.member", role, party)
        if found is not None:
            members.append(found)
    return tuple(members)


def _read_consent(index: BundleIndex, plan: Json, path: str) -> SipConsent | None:
    position = _linked(index, plan, "supportingInfo", path, "Consent")
    if position is None:
        return None
    consent, consent_path = index.resources[position], index.path(position)
    status = opt_str(consent, "status", consent_path)
    if status not in _CONSENT_READ:
        raise MessageRejected(
            f"SIP consent is active (given) or inactive (withdrawn), not {quoted(status)}",
            f"{consent_path}.status",
        )
    moment = consent.get("dateTime")
    return SipConsent(
        status=_CONSENT_READ[status],
        recorded_at=None if moment is None else parse_datetime(moment, f"{consent_path}.dateTime"),
    )
