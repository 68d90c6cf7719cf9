"""Home-care orders Treserva received, and its answers (docs/orders.md).

An order arrives as any notice does (``homecare-order``, filed in the inbox). Home-care staff
answer it — accept, reject with a reason, or ask for more information — with
``POST /api/orders/{order_id}/answer`` (or the buttons on ``/orders``); the answer goes to the
bridge as a ``homecare-order-answered`` message: the order's Patient and ServiceRequest, and its
Task with the new status and ``statusReason``. The bridge routes it back to the referrer.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.domain.identifiers import mask
from treserva_sim.bridge_link import BridgeLink, Posted
from treserva_sim.fhir import JsonObject, resources
from treserva_sim.inbox import Inbox, InboxItem
from treserva_sim.masking import logger
from treserva_sim.outbound import _bundle, _header

_log = logger()
ORDER_EVENT = "homecare-order"
ANSWER_EVENT = "homecare-order-answered"
_TASK_STATUS = {"accepted": "accepted", "rejected": "rejected", "need-more-information": "on-hold"}


class AnswerRequest(BaseModel):
    """``POST /api/orders/{order_id}/answer``."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accepted", "rejected", "need-more-information"]
    reason: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _reason_when_not_accepted(self) -> AnswerRequest:
        if self.decision != "accepted" and not (self.reason or "").strip():
            raise ValueError("a rejection or a request for more information needs a reason")
        return self


class UnknownOrderError(LookupError):
    """No order with that id in the inbox."""


@dataclass(frozen=True)
class ReceivedOrder:
    order_id: str
    item: InboxItem
    task: JsonObject
    request: JsonObject | None

    def as_json(self, answer: SentAnswer | None) -> dict[str, Any]:
        requester = self.task.get("requester") or {}
        note = (self.request or {}).get("note") or [{}]
        category = ((self.request or {}).get("category") or [{}])[0].get("coding") or [{}]
        return {
            "order_id": self.order_id,
            "patient_identifier": self.item.patient_identifier,
            "requester": requester.get("display")
            or (requester.get("identifier") or {}).get("value"),
            "requester_hsa_id": (requester.get("identifier") or {}).get("value"),
            "service": category[0].get("code"),
            "description": note[0].get("text"),
            "received_at": self.item.received_at.isoformat(),
            "answer": None if answer is None else answer.as_json(),
        }


@dataclass(frozen=True)
class SentAnswer:
    order_id: str
    status: str
    reason: str | None
    posted: Posted
    sent_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "reason": self.reason,
            "sent_at": self.sent_at.isoformat(),
            "bridge_status": self.posted.status,
            "bridge_code": self.posted.code,
            "error": self.posted.error,
        }


def _identifier(resource: JsonObject) -> str | None:
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            return str(identifier["value"])
    return None


class Orders:
    def __init__(self, inbox: Inbox, link: BridgeLink) -> None:
        self._inbox, self._link = inbox, link
        self.answers: dict[str, SentAnswer] = {}

    def received(self) -> list[ReceivedOrder]:
        """Orders in the inbox, newest first (a resent order shows once, newest)."""
        found: dict[str, ReceivedOrder] = {}
        for item in self._inbox.items():
            if item.event_code != ORDER_EVENT:
                continue
            tasks = resources(item.bundle, "Task")
            requests = resources(item.bundle, "ServiceRequest")
            if not tasks:
                continue
            order_id = _identifier(tasks[0])
            if order_id and order_id not in found:
                found[order_id] = ReceivedOrder(
                    order_id, item, tasks[0], requests[0] if requests else None
                )
        return list(found.values())

    def as_json(self) -> list[dict[str, Any]]:
        return [order.as_json(self.answers.get(order.order_id)) for order in self.received()]

    async def answer(self, order_id: str, request: AnswerRequest) -> SentAnswer:
        order = next((o for o in self.received() if o.order_id == order_id), None)
        if order is None:
            raise UnknownOrderError(f"no order {order_id!r} in the inbox")
        status = _TASK_STATUS[request.decision]
        reason = (request.reason or "").strip() or None
        posted = await self._link.post(self._answer_bundle(order, status, reason))
        sent = SentAnswer(order_id, status, reason, posted, datetime.now(UTC))
        self.answers[order_id] = sent
        who = mask(order.item.patient_identifier or "")
        _log.info("answered order %s for %s: %s (%s)", order_id, who, status, posted.code)
        return sent

    def _answer_bundle(self, order: ReceivedOrder, status: str, reason: str | None) -> JsonObject:
        header = _header(self._link.sender(), ANSWER_EVENT, "Home-care order answered")
        patient = copy.deepcopy(resources(order.item.bundle, "Patient")[0])
        task = copy.deepcopy(order.task)
        patient_ref = {"reference": f"urn:uuid:{patient['id']}"}
        task.update(
            {
                "id": str(uuid.uuid4()),
                "status": status,
                "for": patient_ref,
                "lastModified": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        task.pop("statusReason", None)
        if reason:
            task["statusReason"] = {"text": reason}
        entries = [header, patient]
        if order.request is not None:
            request = copy.deepcopy(order.request)
            request["subject"] = patient_ref
            task["focus"] = {"reference": f"urn:uuid:{request['id']}"}
            entries.append(request)
        entries.append(task)
        header["focus"] = [{"reference": f"urn:uuid:{task['id']}"}]
        return _bundle(entries)


def render_orders(orders: list[dict[str, Any]]) -> str:
    """The orders page: each order, its answer, and buttons to answer it."""
    rows = []
    for order in orders:
        answer = order["answer"]
        answered = (
            f"{escape(answer['status'])}: {escape(answer['reason'] or '')}" if answer else "—"
        )
        oid = escape(order["order_id"])
        buttons = (
            ""
            if answer
            else (
                f"<button onclick=\"answer('{oid}','accepted')\">Bevilja</button> "
                f"<button onclick=\"answer('{oid}','rejected')\">Avslå…</button> "
                f"<button onclick=\"answer('{oid}','need-more-information')\">"
                "Begär komplettering…</button>"
            )
        )
        rows.append(
            "<tr>"
            f"<td>{escape(order['received_at'][:16])}</td><td>{oid}</td>"
            f"<td>{escape(mask(order['patient_identifier'] or ''))}</td>"
            f"<td>{escape(order['requester'] or '')}</td><td>{escape(order['service'] or '')}</td>"
            f"<td>{escape(order['description'] or '')}</td><td>{answered}</td><td>{buttons}</td>"
            "</tr>"
        )
    script = """<script>
async function answer(id, decision) {
  let reason = null;
  if (decision !== 'accepted') { reason = prompt('Orsak / vad som saknas:'); if (!reason) return; }
  const r = await fetch('/api/orders/' + encodeURIComponent(id) + '/answer', {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({decision, reason})});
  if (!r.ok) alert('Svaret skickades inte: ' + r.status);
  location.reload();
}</script>"""
    return (
        '<!doctype html><html lang="sv"><head><meta charset="utf-8">'
        "<title>Beställningar – Treserva (simulator)</title></head><body>"
        "<h1>Beställningar av hemsjukvård/hemtjänst</h1>"
        '<p><a href="/">Arbetslista</a></p>'
        "<table><thead><tr><th>Mottagen</th><th>Beställning</th><th>Patient</th>"
        "<th>Beställare</th><th>Insats</th><th>Beskrivning</th><th>Svar</th><th></th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>{script}</body></html>"
    )
