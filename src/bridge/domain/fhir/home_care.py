"""Home-care enrolment (inskrivning i hemsjukvården) ⇄ FHIR EpisodeOfCare."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.bundle_index import BundleIndex
from bridge.domain.fhir.datetimes import format_datetime, parse_datetime
from bridge.domain.fhir.entries import EntryIds, Json, bridge_identifier, unit_reference
from bridge.domain.fhir.reader import opt_obj, opt_str, quoted, required_identifier
from bridge.domain.model import HomeCareEnrolment

EPISODE_TYPE = "Hemsjukvård (home health care)"
Status = Literal["active", "finished"]
_STATUSES: dict[str | None, Status] = {"active": "active", "finished": "finished"}


def write_episode_of_care(enrolment: HomeCareEnrolment, ids: EntryIds) -> Json:
    resource: Json = {
        "resourceType": "EpisodeOfCare",
        "id": ids["EpisodeOfCare"],
        "meta": {"profile": [codes.EPISODE_OF_CARE_PROFILE]},
        "identifier": [bridge_identifier(codes.HOMECARE_EPISODE_ID_SYSTEM, enrolment.episode_id)],
        "status": enrolment.status,
        "type": [{"text": EPISODE_TYPE}],
        "patient": ids.reference("Patient"),
    }
    if enrolment.managing_unit is not None:
        resource["managingOrganization"] = unit_reference("Organization", enrolment.managing_unit)
    period: Json = {}
    if enrolment.start is not None:
        period["start"] = format_datetime(enrolment.start)
    if enrolment.end is not None:
        period["end"] = format_datetime(enrolment.end)
    if period:
        resource["period"] = period
    return resource


def read_episode_of_care(index: BundleIndex, position: int) -> HomeCareEnrolment:
    resource = index.resources[position]
    path = index.path(position)
    status = opt_str(resource, "status", path)
    if status not in _STATUSES:
        raise MessageRejected(
            f"a home-care enrolment is active or finished, not {quoted(status)}",
            f"{path}.status",
        )
    period = opt_obj(resource, "period", path) or {}
    organization = opt_obj(resource, "managingOrganization", path)
    unit_path = f"{path}.managingOrganization"
    return HomeCareEnrolment(
        episode_id=required_identifier(
            resource, path, codes.HOMECARE_EPISODE_ID_SYSTEM, "a home-care enrolment"
        ),
        status=_STATUSES[status],
        start=_time(period, "start", f"{path}.period"),
        end=_time(period, "end", f"{path}.period"),
        managing_unit=None
        if organization is None
        else index.unit(organization, unit_path, "Organization"),
    )


def _time(period: Json, key: str, path: str) -> datetime | None:
    value = period.get(key)
    return None if value is None else parse_datetime(value, f"{path}.{key}")
