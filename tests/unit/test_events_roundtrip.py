"""Round trips of every event type through both formats keep every canonical field.

HL7 v2: decode(encode(event)) == event for everything HL7 v2 has a place for. FHIR:
decode(encode(event)) == the event as it may leave the bridge, with the bridge's hop as origin
(the original origin travels in the message-origin extension). Across formats: an event that
went HL7 v2 → canonical → FHIR → canonical → HL7 v2 is the message it started as.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from test_events_strategies import FHIR_EVENTS, HL7_EVENTS, SIP_PLAN_EVENTS, events

from bridge.domain.fhir.codes import FHIR_ID
from bridge.domain.fhir.decode import decode_message_bundle, relayed_origin
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import CareTransitionEvent, Encounter, EventCode, MessageOrigin

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
KEY = "5c1c9d3e-0a7b-4d2c-9e8f-1a2b3c4d5e6f"
ROUTE = {
    "source_name": "bridge-test",
    "source_endpoint": "http://bridge.test/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.test/fhir",
}


def as_hl7(event: CareTransitionEvent) -> str:
    assert event.origin.hl7_version is not None and event.origin.sent_at is not None
    return encode_hl7(
        event,
        version=event.origin.hl7_version,
        control_id=event.origin.message_id,
        now=event.origin.sent_at,
    )


def as_fhir(event: CareTransitionEvent) -> dict[str, Any]:
    return encode_message_bundle(event, bundle_id="b-1", idempotency_key=KEY, now=NOW, **ROUTE)


def after_fhir_hop(event: CareTransitionEvent) -> CareTransitionEvent:
    hop = MessageOrigin(
        sending_application="bridge",
        sending_facility=ROUTE["source_name"],
        message_id=f"urn:uuid:{KEY}",
        sent_at=NOW,
    )
    expected = event.for_destination().model_copy(update={"origin": hop})
    if expected.encounter is None and expected.admission_info is not None:
        expected = expected.model_copy(update={"encounter": Encounter()})
    return expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events("hl7"))
def test_hl7_round_trip_keeps_every_field_of_every_event_type(event: CareTransitionEvent) -> None:
    # Given any event HL7 v2 can carry, of any type
    # When it is written as ER7 in its origin's version and read back
    decoded = decode_hl7(as_hl7(event))
    # Then it is the same event (but a protected person's address, which never leaves)
    assert decoded == event.for_destination()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events("fhir"))
def test_fhir_round_trip_keeps_every_field_of_every_event_type(event: CareTransitionEvent) -> None:
    # Given any event of any type
    # When it is written as a FHIR message Bundle and read back
    wire = dumps(as_fhir(event))
    decoded = decode_message_bundle(wire)
    # Then it is the event as it may leave the bridge, and the original origin is kept
    assert decoded == after_fhir_hop(event)
    assert relayed_origin(wire) == event.origin


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events("hl7"))
def test_hl7_to_fhir_to_hl7_gives_the_same_message(event: CareTransitionEvent) -> None:
    # Given an event a sender wrote in HL7 v2, for a person who is not protected
    assume(event.receipt is None or FHIR_ID.fullmatch(event.receipt.responds_to))
    event = event.model_copy(update={"patient": _unprotected(event)})
    if event.admission_info is not None and event.encounter is None:
        event = event.model_copy(update={"encounter": Encounter()})  # FHIR's carrier Encounter
    text = as_hl7(event)
    # When the bridge translates it to FHIR, and another bridge translates that back to HL7 v2
    relayed = decode_message_bundle(dumps(as_fhir(decode_hl7(text))))
    back = relayed.model_copy(update={"origin": event.origin})
    # Then the message is the one the sender wrote
    assert as_hl7(back) == text


def _unprotected(event: CareTransitionEvent) -> Any:
    if event.patient is None:
        return None
    return event.patient.model_copy(update={"security_labels": frozenset()})


def test_the_generated_events_cover_every_event_type() -> None:
    # Given the event types the strategies draw from / Then together they cover every type but
    # the deviation (built by the deadline tracker, not decoded from a sender)
    covered = set(HL7_EVENTS) | set(FHIR_EVENTS)
    assert covered | {EventCode("deviation")} >= set(EventCode)
    assert SIP_PLAN_EVENTS.isdisjoint(HL7_EVENTS)
