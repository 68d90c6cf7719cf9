"""What Treserva sends the bridge, as FHIR R4 message Bundles (docs/mapping.md); no I/O.

- A receipt (kvittens) for each filed notice: ``eventCoding`` ``receipt`` and
  ``MessageHeader.response.identifier`` = the notice's ``MessageHeader.id``.
- A home-care enrolment started / ended (inskrivning i hemsjukvården): a Patient and an
  EpisodeOfCare, the MessageHeader's focus on the EpisodeOfCare.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from treserva_sim.samples import EVENT_SYSTEM, HSA_SYSTEM, PERSONNUMMER_SYSTEM

JsonObject = dict[str, Any]
ReceiptCode = Literal["ok", "transient-error", "fatal-error"]
EnrolmentStatus = Literal["started", "ended"]
EPISODE_SYSTEM = "http://bridge.gotland.example/fhir/NamingSystem/homecare-episode-id"
SOFTWARE = "Treserva"


@dataclass(frozen=True)
class Sender:
    """Who the messages say they come from, and where they go."""

    facility: str
    endpoint: str
    bridge_endpoint: str


@dataclass(frozen=True)
class HomeCareUnit:
    hsa_id: str
    name: str


@dataclass(frozen=True)
class Enrolment:
    """One enrolment in hemsjukvården, as Treserva records it."""

    episode_id: str
    personnummer: str
    family: str | None
    given: tuple[str, ...]
    unit: HomeCareUnit
    start: datetime
    end: datetime | None = None

    @property
    def status(self) -> EnrolmentStatus:
        return "started" if self.end is None else "ended"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _header(sender: Sender, code: str, display: str) -> JsonObject:
    return {
        "resourceType": "MessageHeader",
        "id": str(uuid.uuid4()),
        "eventCoding": {"system": EVENT_SYSTEM, "code": code, "display": display},
        "source": {"name": sender.facility, "software": SOFTWARE, "endpoint": sender.endpoint},
        "destination": [{"name": "bridge", "endpoint": sender.bridge_endpoint}],
    }


def _bundle(resources: list[JsonObject]) -> JsonObject:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "timestamp": _time(datetime.now(UTC)),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def receipt_bundle(sender: Sender, notice_header_id: str, code: ReceiptCode = "ok") -> JsonObject:
    """A receipt confirming the notice whose MessageHeader.id is ``notice_header_id``."""
    header = _header(sender, "receipt", "Receipt")
    header["response"] = {"identifier": notice_header_id, "code": code}
    return _bundle([header])


def enrolment_bundle(sender: Sender, enrolment: Enrolment) -> JsonObject:
    """homecare-enrolment-started (EpisodeOfCare active) or -ended (finished, period.end)."""
    code = f"homecare-enrolment-{enrolment.status}"
    header = _header(sender, code, f"Home-care enrolment {enrolment.status}")
    patient: JsonObject = {
        "resourceType": "Patient",
        "id": str(uuid.uuid4()),
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": enrolment.personnummer}],
    }
    if enrolment.family or enrolment.given:
        name: JsonObject = {"use": "official", "given": list(enrolment.given)}
        if enrolment.family:
            name["family"] = enrolment.family
        patient["name"] = [name]
    period = {"start": _time(enrolment.start)}
    if enrolment.end is not None:
        period["end"] = _time(enrolment.end)
    episode: JsonObject = {
        "resourceType": "EpisodeOfCare",
        "id": str(uuid.uuid4()),
        "identifier": [{"system": EPISODE_SYSTEM, "value": enrolment.episode_id}],
        "status": "active" if enrolment.end is None else "finished",
        "type": [{"text": "Hemsjukvård (home health care)"}],
        "patient": {"reference": f"urn:uuid:{patient['id']}"},
        "managingOrganization": {
            "identifier": {"system": HSA_SYSTEM, "value": enrolment.unit.hsa_id},
            "display": enrolment.unit.name,
        },
        "period": period,
    }
    header["focus"] = [{"reference": f"urn:uuid:{episode['id']}"}]
    return _bundle([header, patient, episode])
