"""Fakes and helpers for the delivery tests (issue 4): swapped in at the composition root.

- :class:`Switchboard`: wraps the real HTTP connector; while a rule holds for a notice it
  answers a chosen failure instead of sending, and it logs every send in order.
- :class:`RecordingAlerting`: the alerting port, remembering every call.
- :func:`receipt_bundle`: what a receiving system posts back (docs/mapping.md "Receipts").
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from conftest import Stack
from messages import admission, control_id, notice
from sqlalchemy import select

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.connectors.http import HttpConnector
from bridge.connectors.port import OutboundMessage, Outcome, SendResult
from bridge.domain.hl7.ack import parse_ack
from bridge.domain.model import EVENT_CODE_SYSTEM
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import DeliveryRow, MessageRow
from treserva_sim.server import RunningTreserva


@dataclass
class Rule:
    """Fail notices of ``personnummer`` with event ``event`` (None: any) as ``outcome``."""

    personnummer: str
    event: str | None
    outcome: Outcome
    status_code: int

    def matches(self, message: OutboundMessage) -> bool:
        body = json.loads(message.body)
        header = body["entry"][0]["resource"]
        if self.event is not None and header["eventCoding"]["code"] != self.event:
            return False
        return self.personnummer in message.body


@dataclass
class Switchboard:
    """A connector in front of the real one: fails what a rule names, records every send."""

    inner: HttpConnector = field(default_factory=lambda: HttpConnector(5.0))
    rules: list[Rule] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (event, outcome, key)

    def fail(
        self,
        personnummer: str,
        event: str | None = None,
        *,
        outcome: Outcome = Outcome.TRANSIENT,
        status_code: int = 503,
    ) -> None:
        self.rules.append(Rule(personnummer, event, outcome, status_code))

    def heal(self) -> None:
        self.rules.clear()

    async def send(self, message: OutboundMessage) -> SendResult:
        event = json.loads(message.body)["entry"][0]["resource"]["eventCoding"]["code"]
        for rule in self.rules:
            if rule.matches(message):
                result = SendResult(
                    rule.outcome, rule.status_code, f"HTTP {rule.status_code} (test fault)"
                )
                break
        else:
            result = await self.inner.send(message)
        self.sent.append((event, result.outcome.value, message.idempotency_key))
        return result

    def attempts(self, event: str, outcome: str | None = None) -> int:
        return sum(1 for e, o, _ in self.sent if e == event and outcome in (None, o))

    async def close(self) -> None:
        await self.inner.close()


@contextlib.asynccontextmanager
async def delivery_stack(
    settings: Settings, treserva: RunningTreserva, **overrides: Any
) -> AsyncIterator[tuple[Stack, Switchboard, RecordingAlerting]]:
    """A whole bridge with the switchboard as its HTTP connector and recorded alerts."""
    switchboard, alerting = Switchboard(), RecordingAlerting()
    settings = settings.model_copy(update=overrides)
    bridge = Bridge(settings, connectors={"http": switchboard}, alerting=alerting)
    async with running_bridge(settings, bridge=bridge) as running:
        yield Stack(treserva, running, settings), switchboard, alerting


@dataclass
class RecordingAlerting:
    raised: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)

    async def raise_alert(
        self, key: str, kind: str, summary: str, detail: dict[str, Any] | None = None
    ) -> None:
        self.raised.append((key, kind, summary, detail or {}))

    async def resolve(self, key: str, summary: str = "") -> None:
        self.resolved.append((key, summary))

    def keys(self, kind: str) -> list[str]:
        return [key for key, k, _, _ in self.raised if k == kind]


def receipt_bundle(responds_to: str, code: str = "ok") -> dict[str, Any]:
    """A receipt as Treserva posts it: MessageHeader.response names the confirmed header."""
    header_id = str(uuid.uuid4())
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{header_id}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": header_id,
                    "eventCoding": {"system": EVENT_CODE_SYSTEM, "code": "receipt"},
                    "source": {"name": "treserva", "endpoint": "http://treserva.test/fhir"},
                    "response": {"identifier": responds_to, "code": code},
                },
            }
        ],
    }


async def send_hl7(stack: Stack, message: str) -> str:
    """POST one ER7 message to the bridge's HL7-over-HTTP entrypoint; returns MSA-1."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.bridge.base_url}/hl7v2",
            content=message.encode(),
            headers={"Content-Type": "application/hl7-v2"},
        )
    response.raise_for_status()
    return parse_ack(response.text).code


async def send_admission(stack: Stack, personnummer: str) -> str:
    control = control_id()
    assert await send_hl7(stack, admission(control, personnummer)) == "AA"
    return control


async def send_discharge(stack: Stack, personnummer: str) -> str:
    control = control_id()
    assert await send_hl7(stack, notice(control, personnummer, "A03")) == "AA"
    return control


async def deliveries_of(stack: Stack, control: str) -> list[DeliveryRow]:
    async with stack.bridge.bridge.db.session() as session:
        rows = await session.scalars(
            select(DeliveryRow)
            .join(MessageRow, MessageRow.id == DeliveryRow.message_id)
            .where(MessageRow.dedupe_key.like(f"%|{control}"))
        )
        return list(rows.all())


async def delivery_of(stack: Stack, control: str) -> DeliveryRow:
    [row] = await deliveries_of(stack, control)
    return row


async def status_of(stack: Stack, control: str) -> str:
    return (await delivery_of(stack, control)).status


async def until_status(stack: Stack, control: str, status: str) -> bool:
    return await status_of(stack, control) == status


async def events_at_treserva(stack: Stack, personnummer: str) -> list[str]:
    """The patient's filed notices, oldest first (the inbox lists newest first)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.treserva.base_url}/api/inbox")
    response.raise_for_status()
    items = [i for i in response.json() if i["patient_identifier"] == personnummer]
    return [item["event_code"] for item in reversed(items)]
