"""A collaboration deviation (avvikelse i samverkan) and the FHIR message that alerts it. Pure.

The alert is a FHIR R4 message Bundle like every notice the bridge sends: MessageHeader with
``eventCoding`` ``deviation`` (``…/CodeSystem/care-transition-event``), the Patient and the
Encounter of the stay, and a **DetectedIssue** the header's ``focus`` points at:

- ``identifier`` = the deviation id (``…/NamingSystem/deviation-id``), ``status`` ``final``;
- ``code`` = the category (``…/CodeSystem/deviation-category``), ``text`` the rule's title;
- ``patient`` → the Patient, ``implicated`` → the Encounter, ``identifiedDateTime``;
- ``detail`` = one sentence a person can act on;
- extensions (``…/StructureDefinition/deviation-*``): the rule (valueCoding,
  ``…/CodeSystem/deadline-rule``), the deadline (valueDateTime), when it was done if it was
  (valueDateTime), how late (valueDuration, minutes), late or missing (valueCode), who is
  responsible (valueCode ``sender`` / ``receiver``), the sending unit (valueReference with HSA
  identifier) and each receiving system (valueString).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.domain.deadlines import Outcome
from bridge.domain.episodes import STOCKHOLM, Unit
from bridge.domain.fhir.codes import CANONICAL_BASE, EXTENSION_BASE
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.identifiers import HSA_SYSTEM
from bridge.domain.model import CareTransitionEvent, EventCode, MessageOrigin

Json = dict[str, Any]

DEVIATION_ID_SYSTEM = f"{CANONICAL_BASE}NamingSystem/deviation-id"
CATEGORY_SYSTEM = f"{CANONICAL_BASE}CodeSystem/deviation-category"
RULE_SYSTEM = f"{CANONICAL_BASE}CodeSystem/deadline-rule"
RULE_URL = f"{EXTENSION_BASE}deviation-rule"
DEADLINE_URL = f"{EXTENSION_BASE}deviation-deadline"
DONE_URL = f"{EXTENSION_BASE}deviation-done-at"
LATE_BY_URL = f"{EXTENSION_BASE}deviation-late-by"
KIND_URL = f"{EXTENSION_BASE}deviation-kind"
RESPONSIBLE_URL = f"{EXTENSION_BASE}deviation-responsible"
SENDING_UNIT_URL = f"{EXTENSION_BASE}deviation-sending-unit"
RECEIVING_UNIT_URL = f"{EXTENSION_BASE}deviation-receiving-unit"
UCUM = "http://unitsofmeasure.org"

BRIDGE = "bridge"


@dataclass(frozen=True)
class Deviation:
    """What a person needs to know about one missed or late deadline."""

    id: str
    episode_id: str
    rule_id: str
    rule_title: str
    category: str
    kind: str
    failed_step: str
    responsible: str
    sending_unit: Unit | None
    receivers: tuple[str, ...]
    anchor_at: datetime
    deadline_at: datetime
    done_at: datetime | None
    late_by: timedelta
    detected_at: datetime
    notice_sent_at: datetime | None = None

    @classmethod
    def from_outcome(
        cls, outcome: Outcome, *, deviation_id: str, episode_id: str, detected_at: datetime
    ) -> Deviation:
        if outcome.deadline_at is None or outcome.anchor_at is None or outcome.late_by is None:
            raise ValueError(f"outcome {outcome.verdict} of {outcome.rule.id} is no deviation")
        return cls(
            id=deviation_id,
            episode_id=episode_id,
            rule_id=outcome.rule.id,
            rule_title=outcome.rule.title,
            category=outcome.rule.category,
            kind=outcome.verdict.value,
            failed_step=(outcome.failed_step or outcome.rule.step).value,
            responsible=(outcome.responsible.value if outcome.responsible else "sender"),
            sending_unit=outcome.sending_unit,
            receivers=outcome.receivers,
            anchor_at=outcome.anchor_at,
            deadline_at=outcome.deadline_at,
            done_at=outcome.done_at,
            late_by=outcome.late_by,
            detected_at=detected_at,
            notice_sent_at=outcome.notice.sent_at if outcome.notice is not None else None,
        )

    @property
    def responsible_unit(self) -> str:
        if self.responsible == "receiver":
            return ", ".join(self.receivers) or "the receiving unit"
        return self.sending_unit.label if self.sending_unit else "the sending unit"

    def describe(self) -> str:
        """One sentence: what was late, by how much, against which deadline, whose it is."""
        deadline = self.deadline_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
        sent = self.notice_sent_at
        if self.failed_step == "sent" and sent is not None and sent > self.deadline_at:
            what = f"sent {format_late(sent - self.deadline_at)} late"
        elif self.kind == "missing":
            what = f"not {self.failed_step} by the deadline ({format_late(self.late_by)} so far)"
        else:
            what = f"{self.failed_step} {format_late(self.late_by)} late"
        return (
            f"{self.rule_title}: {what}; deadline {deadline} Europe/Stockholm. "
            f"Responsible: {self.responsible} ({self.responsible_unit})."
        )


def format_late(late_by: timedelta) -> str:
    """``1 min``, ``3 h 5 min``, ``2 d 4 h``: to the minute, rounded up (a second late is late)."""
    minutes = max(1, -(-int(late_by.total_seconds()) // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def deviation_event(stay_event: CareTransitionEvent, deviation: Deviation) -> CareTransitionEvent:
    """The canonical event that routes the alert: the stay's patient and encounter, event
    ``deviation``, sent by the bridge under the deviation's id."""
    return CareTransitionEvent(
        event=EventCode.DEVIATION,
        origin=MessageOrigin(
            sending_application=BRIDGE,
            sending_facility=BRIDGE,
            message_id=f"deviation-{deviation.id}",
            sent_at=deviation.detected_at,
        ),
        occurred_at=deviation.detected_at,
        patient=stay_event.patient,
        encounter=stay_event.encounter,
    )


def encode_deviation_bundle(
    event: CareTransitionEvent,
    deviation: Deviation,
    *,
    bundle_id: str,
    idempotency_key: str,
    source_name: str,
    source_endpoint: str,
    destination_name: str,
    destination_endpoint: str,
    now: datetime,
) -> Json:
    """The message Bundle alerting ``deviation``; ``event`` comes from :func:`deviation_event`."""
    bundle = encode_message_bundle(
        event,
        bundle_id=bundle_id,
        idempotency_key=idempotency_key,
        source_name=source_name,
        source_endpoint=source_endpoint,
        destination_name=destination_name,
        destination_endpoint=destination_endpoint,
        now=now,
    )
    entries: list[Json] = bundle["entry"]
    urls = {entry["resource"]["resourceType"]: entry["fullUrl"] for entry in entries[1:]}
    issue_url = f"urn:uuid:{_issue_id(bundle_id)}"
    issue = detected_issue(deviation, urls.get("Patient"), urls.get("Encounter"))
    issue["id"] = _issue_id(bundle_id)
    entries.append({"fullUrl": issue_url, "resource": issue})
    entries[0]["resource"]["focus"] = [{"reference": issue_url}]
    return bundle


def _issue_id(bundle_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{bundle_id}/DetectedIssue"))


def detected_issue(
    deviation: Deviation, patient_url: str | None, encounter_url: str | None
) -> Json:
    """The DetectedIssue resource for ``deviation`` (references as given)."""
    issue: Json = {
        "resourceType": "DetectedIssue",
        "extension": _extensions(deviation),
        "identifier": [{"system": DEVIATION_ID_SYSTEM, "value": deviation.id}],
        "status": "final",
        "code": {
            "coding": [{"system": CATEGORY_SYSTEM, "code": deviation.category}],
            "text": deviation.rule_title,
        },
        "severity": "moderate",
        "identifiedDateTime": format_datetime(deviation.detected_at),
        "author": {"display": BRIDGE},
        "detail": deviation.describe(),
    }
    if patient_url is not None:
        issue["patient"] = {"reference": patient_url}
    if encounter_url is not None:
        issue["implicated"] = [{"reference": encounter_url}]
    return issue


def _extensions(deviation: Deviation) -> list[Json]:
    extensions: list[Json] = [
        {
            "url": RULE_URL,
            "valueCoding": {
                "system": RULE_SYSTEM,
                "code": deviation.rule_id,
                "display": deviation.rule_title,
            },
        },
        {"url": KIND_URL, "valueCode": deviation.kind},
        {"url": DEADLINE_URL, "valueDateTime": format_datetime(deviation.deadline_at)},
    ]
    if deviation.done_at is not None:
        extensions.append({"url": DONE_URL, "valueDateTime": format_datetime(deviation.done_at)})
    minutes = round(deviation.late_by.total_seconds() / 60, 2)
    extensions += [
        {
            "url": LATE_BY_URL,
            "valueDuration": {"value": minutes, "unit": "min", "system": UCUM, "code": "min"},
        },
        {"url": RESPONSIBLE_URL, "valueCode": deviation.responsible},
    ]
    if deviation.sending_unit is not None:
        reference = _unit(deviation.sending_unit)
        extensions.append({"url": SENDING_UNIT_URL, "valueReference": reference})
    extensions += [{"url": RECEIVING_UNIT_URL, "valueString": name} for name in deviation.receivers]
    return extensions


def _unit(unit: Unit) -> Json:
    reference: Json = {"type": "Organization", "display": unit.label}
    if unit.hsa_id:
        reference["identifier"] = {"system": HSA_SYSTEM, "value": unit.hsa_id}
    return reference
