"""Home-care orders in the pure domain: the model, both formats, routing back, deadlines, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    Address,
    CareTransitionEvent,
    CareUnit,
    EventCode,
    HomeCareOrder,
    MessageOrigin,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)
from bridge.domain.orders import OrderDeadlinePolicy, OrderState, count_states
from bridge.domain.routing import RoutingTable

CENTRE = CareUnit(hsa_id="SE5566778899-VCH01", name="Vårdcentralen Hemse (privat)")
WARD = CareUnit(hsa_id="SE2321000040-W001", name="Medicinavdelning 1")
HOME_CARE = CareUnit(hsa_id="SE2321000040-H001", name="Hemsjukvården Visby")
SENT = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # a Friday, 16:30 in Stockholm


def order_event(
    event: EventCode = EventCode.HOMECARE_ORDER, protected: bool = False, **order: Any
) -> CareTransitionEvent:
    fields: dict[str, Any] = {
        "order_id": "ORD-1",
        "requester": CENTRE,
        "performer": HOME_CARE,
        "description": "Insulin morgon och kväll",
        "authored_at": SENT,
        **order,
    }
    return CareTransitionEvent(
        event=event,
        origin=MessageOrigin(sending_facility="VC_HEMSE_PRIVAT", message_id="M-1"),
        patient=Patient(
            identifiers=(
                PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="194403129804"),
            ),
            address=Address(lines=("Hemlig väg 1",), city="Hemse"),
            security_labels=frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING})
            if protected
            else frozenset(),
        ),
        order=HomeCareOrder(**fields),
    )


def to_fhir(event: CareTransitionEvent) -> dict[str, Any]:
    return encode_message_bundle(
        event,
        bundle_id="b-1",
        idempotency_key="k-1",
        source_name="bridge",
        source_endpoint="http://bridge/fhir",
        destination_name="treserva",
        destination_endpoint="http://treserva/fhir",
        now=SENT,
    )


def to_hl7(event: CareTransitionEvent) -> str:
    return encode_hl7(event, control_id="C-1", now=SENT)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("accepted", None), ("rejected", "Kan ta sig till vårdcentralen"), ("on-hold", "Ange dos")],
)
def test_an_answer_survives_both_formats(status: str, reason: str | None) -> None:
    # Given an answer of each kind
    event = order_event(EventCode.HOMECARE_ORDER_ANSWERED, status=status, reason=reason)
    # When written and read back as FHIR and as HL7 v2 (RRI^I12)
    from_fhir = decode_message_bundle(to_fhir(event))
    from_hl7 = decode_hl7(to_hl7(event))
    # Then the order part is the same, status and reason included
    assert from_fhir.order == event.order
    assert from_hl7.order == event.order
    assert from_hl7.event is EventCode.HOMECARE_ORDER_ANSWERED
    assert "RRI^I12^RRI_I12" in to_hl7(event)


def test_fhir_answer_carries_task_status_and_status_reason() -> None:
    bundle = to_fhir(
        order_event(EventCode.HOMECARE_ORDER_ANSWERED, status="on-hold", reason="Ange dos")
    )
    task = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task")
    assert (task["status"], task["statusReason"]["text"]) == ("on-hold", "Ange dos")
    header = bundle["entry"][0]["resource"]
    assert header["focus"] == [{"reference": f"urn:uuid:{task['id']}"}]


def test_a_protected_persons_address_never_leaves_with_an_order() -> None:
    event = order_event(protected=True)
    assert "Hemlig" not in str(to_fhir(event))
    assert "Hemlig" not in to_hl7(event)


def test_a_rejection_or_question_without_a_reason_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        order_event(EventCode.HOMECARE_ORDER_ANSWERED, status="rejected")
    with pytest.raises(ValidationError, match="needs status"):
        order_event(EventCode.HOMECARE_ORDER_ANSWERED, status="requested")


def test_an_rri_without_an_answer_status_is_rejected_naming_rf1_1() -> None:
    text = to_hl7(order_event(EventCode.HOMECARE_ORDER_ANSWERED, status="accepted"))
    broken = text.replace("RF1|A^Accepted^HL70283", "RF1|")
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(broken)
    assert rejected.value.location == "RF1-1"


def test_a_ref_without_the_referring_unit_is_rejected() -> None:
    text = to_hl7(order_event())
    broken = "\r".join(line for line in text.split("\r") if not line.startswith("PRD|RP"))
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(broken)
    assert rejected.value.location == "PRD"


def _table() -> RoutingTable:
    return RoutingTable.model_validate(
        {
            "destinations": [
                {"name": "treserva", "address": "http://t/fhir"},
                {
                    "name": "region",
                    "address": "mllp://r:2576",
                    "format": "hl7v2",
                    "transport": "mllp",
                },
                {"name": "vc-hemse", "address": "http://vc/fhir"},
            ],
            "routes": [
                {
                    "events": ["homecare-order-answered"],
                    "conditions": {"requesters": ["SE2321000040-*"]},
                    "destinations": ["region"],
                },
                {
                    "events": ["homecare-order-answered"],
                    "conditions": {"requesters": [CENTRE.hsa_id]},
                    "destinations": ["vc-hemse"],
                },
            ],
        }
    )


@pytest.mark.parametrize(
    ("requester", "expected"),
    [(CENTRE, ["vc-hemse"]), (WARD, ["region"]), (CareUnit(hsa_id="SE999-X"), [])],
)
def test_an_answer_is_routed_to_its_requesting_unit(
    requester: CareUnit, expected: list[str]
) -> None:
    event = order_event(EventCode.HOMECARE_ORDER_ANSWERED, status="accepted", requester=requester)
    assert [d.name for d in _table().route(event, "takecare")] == expected


def test_deadline_in_hours() -> None:
    assert OrderDeadlinePolicy(hours=48).deadline(SENT) == SENT + timedelta(hours=48)


def test_deadline_in_working_days_skips_the_weekend() -> None:
    # Friday 16:30 + 2 working days = Tuesday 16:30 (Stockholm)
    due = OrderDeadlinePolicy(working_days=2).deadline(SENT)
    assert due == datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert due.weekday() == 1


def test_counts_for_the_indicators() -> None:
    now = SENT + timedelta(days=5)
    late = SENT + timedelta(hours=50)
    deadline = SENT + timedelta(hours=48)
    states = [
        OrderState("accepted", deadline, SENT + timedelta(hours=2)),
        OrderState("rejected", deadline, late),
        OrderState("on-hold", deadline, SENT + timedelta(hours=3)),
        OrderState("requested", deadline, None),
        OrderState("requested", now + timedelta(hours=1), None),
    ]
    assert count_states(states, now).as_dict() == {
        "sent": 5,
        "answered": 3,
        "accepted": 1,
        "rejected": 1,
        "need_more_information": 1,
        "unanswered_past_deadline": 1,
        "answered_late": 1,
    }
