"""Home-care orders (beställning av hemsjukvård/hemtjänst) the referring side sends, and the
answers it reads back (docs/orders.md).

Two referrers are played: TakeCare itself (hospital or public primary care), which speaks HL7 v2
(REF^I12 over MLLP) or FHIR, and a private health centre (Vårdcentralen Hemse, privat), which
speaks FHIR only and receives its answers at its own FHIR endpoint (a :func:`receiving`
receiver). Deliberately built here, not with the bridge's encoders: the simulator is another
system, and reading the bridge's output independently is what catches its mistakes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from takecare_sim.ack import Ack, parse_ack
from takecare_sim.er7 import STOCKHOLM, escape, hl7_time, segment
from takecare_sim.inbox import InboxItem
from takecare_sim.messages import PERSONNUMMER_OID, Sender, msh
from takecare_sim.mllp import MllpClient

Json = dict[str, Any]
EVENT_SYSTEM = "http://bridge.gotland.example/fhir/CodeSystem/care-transition-event"
ORDER_ID_SYSTEM = "http://bridge.gotland.example/fhir/NamingSystem/homecare-order-id"
SERVICE_SYSTEM = "http://bridge.gotland.example/fhir/CodeSystem/homecare-service"
PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
Service = Literal["hemsjukvard", "hemtjanst"]
_RF1_STATUS = {"A": "accepted", "R": "rejected", "H": "on-hold", "P": "requested"}


@dataclass(frozen=True)
class Unit:
    hsa_id: str
    name: str


PRIVATE_HEALTH_CENTRE = Unit("SE5566778899-VCH01", "Vårdcentralen Hemse (privat)")
PRIVATE_FACILITY = "VC_HEMSE_PRIVAT"
HOSPITAL_WARD = Unit("SE2321000040-W001", "Medicinavdelning 1, Visby lasarett")
HOME_CARE = Unit("SE2321000040-H001", "Hemsjukvården Visby")


@dataclass(frozen=True)
class Order:
    """One order: who for, who asks, what is asked."""

    order_id: str
    personnummer: str
    requester: Unit
    description: str
    service: Service = "hemsjukvard"
    performer: Unit | None = HOME_CARE
    family: str = "Testsson"
    given: str = "Elsa"


def new_order(personnummer: str, requester: Unit, description: str, **more: Any) -> Order:
    return Order(
        f"ORD-{uuid.uuid4().hex[:12].upper()}", personnummer, requester, description, **more
    )


def _reference(unit: Unit) -> Json:
    return {
        "type": "Organization",
        "identifier": {"system": HSA_SYSTEM, "value": unit.hsa_id},
        "display": unit.name,
    }


def order_bundle(order: Order, facility: str, software: str = "TakeCare") -> Json:
    """A FHIR message Bundle: MessageHeader (focus Task), Patient, ServiceRequest, Task."""
    ids = {name: str(uuid.uuid4()) for name in ("header", "patient", "request", "task")}
    authored = datetime.now(UTC).isoformat(timespec="seconds")
    identifier = [{"system": ORDER_ID_SYSTEM, "value": order.order_id}]
    request: Json = {
        "resourceType": "ServiceRequest",
        "id": ids["request"],
        "identifier": identifier,
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": SERVICE_SYSTEM, "code": order.service}]}],
        "subject": {"reference": f"urn:uuid:{ids['patient']}"},
        "authoredOn": authored,
        "requester": _reference(order.requester),
        "note": [{"text": order.description}],
    }
    task: Json = {
        "resourceType": "Task",
        "id": ids["task"],
        "identifier": identifier,
        "status": "requested",
        "intent": "order",
        "focus": {"reference": f"urn:uuid:{ids['request']}"},
        "for": {"reference": f"urn:uuid:{ids['patient']}"},
        "authoredOn": authored,
        "requester": _reference(order.requester),
    }
    if order.performer is not None:
        request["performer"] = [_reference(order.performer)]
        task["owner"] = _reference(order.performer)
    patient: Json = {
        "resourceType": "Patient",
        "id": ids["patient"],
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": order.personnummer}],
        "name": [{"family": order.family, "given": [order.given]}],
    }
    header: Json = {
        "resourceType": "MessageHeader",
        "id": ids["header"],
        "eventCoding": {"system": EVENT_SYSTEM, "code": "homecare-order"},
        "source": {"name": facility, "software": software, "endpoint": "urn:takecare-sim"},
        "focus": [{"reference": f"urn:uuid:{ids['task']}"}],
    }
    resources = [header, patient, request, task]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "message",
        "timestamp": authored,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def _pl(unit: Unit) -> str:
    return f"^^^{escape(unit.name)}&{unit.hsa_id}&HSA"


def order_er7(order: Order, sender: Sender, control_id: str) -> str:
    """REF^I12: MSH, RF1, PRD (referring, referred to), PID, NTE (what is asked)."""
    now = datetime.now(STOCKHOLM)
    segments = [
        msh(sender, control_id, now, "REF^I12^REF_I12"),
        segment(
            "RF1",
            {
                1: "P^Pending^HL70283",
                3: f"{order.service}^^BRIDGE-HCS",
                6: escape(order.order_id),
                7: hl7_time(now),
            },
        ),
        segment("PRD", {1: "RP^Referring provider^HL70286", 4: _pl(order.requester)}),
    ]
    if order.performer is not None:
        segments.append(
            segment("PRD", {1: "RT^Referred to provider^HL70286", 4: _pl(order.performer)})
        )
    segments += [
        segment(
            "PID",
            {
                1: "1",
                3: f"{order.personnummer}^^^&{PERSONNUMMER_OID}&ISO^NNSWE",
                5: f"{escape(order.family)}^{escape(order.given)}",
            },
        ),
        segment("NTE", {1: "1", 3: escape(order.description), 4: "GI"}),
    ]
    return "\r".join(segments) + "\r"


async def send_order_mllp(order: Order, host: str, port: int, sender: Sender | None = None) -> Ack:
    """Send the order as REF^I12 over MLLP; the bridge's ACK."""
    control_id = f"REF{uuid.uuid4().hex[:16].upper()}"
    async with MllpClient(host, port) as client:
        return parse_ack(await client.send(order_er7(order, sender or Sender(), control_id)))


async def send_order_fhir(order: Order, bridge_fhir_base: str, facility: str) -> str | None:
    """Post the order as a FHIR message; the response code (``ok``) or None when refused."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{bridge_fhir_base.rstrip('/')}/$process-message",
            json=order_bundle(order, facility),
            headers={"content-type": "application/fhir+json"},
        )
    if response.status_code >= 300:
        return None
    for entry in response.json().get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "MessageHeader":
            code = (resource.get("response") or {}).get("code")
            return str(code) if code else None
    return None


@dataclass(frozen=True)
class OrderAnswer:
    """An answer as the referrer's inbox reads it."""

    order_id: str
    status: str
    reason: str | None
    format: str

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "reason": self.reason,
            "format": self.format,
        }


def read_answer(item: InboxItem) -> OrderAnswer | None:
    """The order answer in an inbox item (FHIR or RRI^I12), else None."""
    if item.bundle is not None and item.event_code == "homecare-order-answered":
        return _fhir_answer(item.bundle)
    if item.er7 is not None and item.event_code == "RRI^I12":
        return _er7_answer(item.er7)
    return None


def _fhir_answer(bundle: Json) -> OrderAnswer | None:
    for entry in bundle.get("entry") or []:
        task = entry.get("resource") or {}
        if task.get("resourceType") != "Task":
            continue
        ids = [i.get("value") for i in task.get("identifier") or [] if isinstance(i, dict)]
        reason = (task.get("statusReason") or {}).get("text")
        return OrderAnswer(str(ids[0]) if ids else "", str(task.get("status")), reason, "fhir")
    return None


def _er7_answer(er7: str) -> OrderAnswer | None:
    order_id = status = reason = None
    for line in re.split(r"[\r\n]+", er7.strip()):
        fields = line.split("|")
        if fields[0] == "RF1" and len(fields) > 6:
            status = _RF1_STATUS.get(fields[1].split("^")[0], fields[1])
            order_id = fields[6]
        elif fields[0] == "NTE" and len(fields) > 4 and fields[4] == "GR":
            reason = fields[3]
    if order_id is None or status is None:
        return None
    return OrderAnswer(order_id, status, reason, "hl7v2")
