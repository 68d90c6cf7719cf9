"""Home-care orders as HL7 v2 patient referral messages (chapter 11): REF^I12 (the order) and
RRI^I12 (the municipality's answer). docs/orders.md has the field table.

- RF1-1 referral status (table 0283): ``P`` pending (requested), ``A`` accepted, ``R``
  rejected, ``H`` on hold / more information needed (a local addition to the user table).
- RF1-3 referral type: ``hemsjukvard`` or ``hemtjanst`` (coding system ``BRIDGE-HCS``).
- RF1-6 originating referral identifier: the order id. RF1-7 effective date: when authored.
- PRD with PRD-1 ``RP`` (referring provider) and ``RT`` (referred-to provider); PRD-4 the unit
  as a PL (name and HSA-id in PL-4, as PV1-3).
- NTE-3 with NTE-4 ``GI``: what is ordered; with NTE-4 ``GR``: the reason of the answer.
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.decode_visit import unit_of_location
from bridge.domain.hl7.er7 import Er7Message
from bridge.domain.hl7.segments import esc, pl, segment
from bridge.domain.hl7.timestamps import format_ts, parse_ts
from bridge.domain.hl7.values import clean
from bridge.domain.model import CareUnit, EventCode, HomeCareOrder, OrderService, OrderStatus

REFERRAL_MESSAGES: dict[str, EventCode] = {
    "REF": EventCode.HOMECARE_ORDER,
    "RRI": EventCode.HOMECARE_ORDER_ANSWERED,
}
REFERRAL_TRIGGER = "I12"
STATUS_CODES: dict[OrderStatus, tuple[str, str]] = {
    "requested": ("P", "Pending"),
    "accepted": ("A", "Accepted"),
    "rejected": ("R", "Rejected"),
    "on-hold": ("H", "Need more information"),
}
_STATUS_OF_CODE: dict[str, OrderStatus] = {code: s for s, (code, _) in STATUS_CODES.items()}
SERVICE_SYSTEM = "BRIDGE-HCS"
_SERVICES: dict[str, OrderService] = {"hemsjukvard": "hemsjukvard", "hemtjanst": "hemtjanst"}
_SERVICE_TEXT = {"hemsjukvard": "Hemsjukvård", "hemtjanst": "Hemtjänst"}
REFERRING, REFERRED_TO = "RP", "RT"
DESCRIPTION_NOTE, REASON_NOTE = "GI", "GR"


def message_type(event: EventCode) -> str:
    """MSH-9 for an order event: ``REF^I12^REF_I12`` or ``RRI^I12^RRI_I12``."""
    kind = "REF" if event is EventCode.HOMECARE_ORDER else "RRI"
    return f"{kind}^{REFERRAL_TRIGGER}^{kind}_{REFERRAL_TRIGGER}"


def referral_head(order: HomeCareOrder) -> list[str]:
    """RF1 and the PRD segments (they come before PID in REF_I12 and RRI_I12)."""
    code, text = STATUS_CODES[order.status]
    rf1 = segment(
        "RF1",
        {
            1: f"{code}^{text}^HL70283",
            3: f"{order.service}^{_SERVICE_TEXT[order.service]}^{SERVICE_SYSTEM}",
            6: esc(order.order_id),
            7: format_ts(order.authored_at) if order.authored_at else "",
        },
    )
    providers = [
        segment("PRD", {1: f"{REFERRING}^Referring provider^HL70286", 4: pl(order.requester)})
    ]
    if order.performer is not None:
        providers.append(
            segment(
                "PRD", {1: f"{REFERRED_TO}^Referred to provider^HL70286", 4: pl(order.performer)}
            )
        )
    return [rf1, *providers]


def referral_notes(order: HomeCareOrder) -> list[str]:
    notes: list[str] = []
    for text, kind in ((order.description, DESCRIPTION_NOTE), (order.reason, REASON_NOTE)):
        if text:
            notes.append(segment("NTE", {1: str(len(notes) + 1), 3: esc(text), 4: kind}))
    return notes


def decode_referral(message: Er7Message, event: EventCode) -> HomeCareOrder:
    rf1 = message.segment("RF1")
    if rf1 is None:
        raise MessageRejected("a referral (REF/RRI^I12) needs RF1", "RF1", code="required")
    order_id = clean(rf1.get(6))
    if order_id is None:
        raise MessageRejected("the order id belongs in RF1-6", "RF1-6", code="required")
    return HomeCareOrder(
        order_id=order_id,
        status=_status(clean(rf1.get(1)), event),
        service=_service(clean(rf1.get(3))),
        requester=_provider(message, REFERRING) or _missing_requester(),
        performer=_provider(message, REFERRED_TO),
        description=_note(message, DESCRIPTION_NOTE),
        authored_at=parse_ts(rf1.get(7), "RF1-7"),
        reason=_note(message, REASON_NOTE),
    )


def _status(code: str | None, event: EventCode) -> OrderStatus:
    if event is EventCode.HOMECARE_ORDER:
        if code not in (None, "P"):
            raise MessageRejected("a REF^I12 order has RF1-1 P (pending) or none", "RF1-1")
        return "requested"
    status = _STATUS_OF_CODE.get((code or "").upper())
    if status is None or status == "requested":
        raise MessageRejected(
            "an RRI^I12 answer has RF1-1 A (accepted), R (rejected) or H (more information)",
            "RF1-1",
            code="required" if code is None else "code-invalid",
        )
    return status


def _service(code: str | None) -> OrderService:
    if code is None:
        return "hemsjukvard"
    found = _SERVICES.get(code.lower())
    if found is None:
        raise MessageRejected("RF1-3 is hemsjukvard or hemtjanst", "RF1-3", code="code-invalid")
    return found


def _provider(message: Er7Message, role: str) -> CareUnit | None:
    for prd in message.segments("PRD"):
        if prd.get(1).strip().upper() == role:
            return unit_of_location(prd.first(4))
    return None


def _missing_requester() -> CareUnit:
    raise MessageRejected(
        "a referral needs the referring unit: PRD with PRD-1 RP and the unit in PRD-4",
        "PRD",
        code="required",
    )


def _note(message: Er7Message, kind: str) -> str | None:
    texts = [
        text
        for nte in message.segments("NTE")
        if nte.get(4).strip().upper() == kind and (text := clean(nte.get(3))) is not None
    ]
    return "\n".join(texts) or None
