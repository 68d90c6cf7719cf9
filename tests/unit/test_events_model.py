"""The canonical model's rules for the newer events: the part each event needs, statuses that
agree with the event code, and normalised text and times so round trips compare equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from test_events_strategies import events

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.fhir.examples import example_event, merge_example, sip_meeting_example
from bridge.domain.model import (
    REQUIRED_PART,
    CareUnit,
    EventCode,
    HumanName,
    Participant,
    Receipt,
    SipMeeting,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def rebuilt(original: Any, **changes: Any) -> Any:
    """The event validated again with ``changes`` (model_copy would skip validation)."""
    return type(original).model_validate({**dict(original), **changes})


@pytest.mark.parametrize("code", sorted(REQUIRED_PART, key=str), ids=str)
def test_an_event_without_its_part_is_refused(code: EventCode) -> None:
    event = example_event(code)
    part = REQUIRED_PART[code]
    with pytest.raises(ValidationError, match=f"needs {part}"):
        rebuilt(event, **{part: None})


def test_an_event_cannot_carry_another_events_part() -> None:
    meeting = sip_meeting_example().sip_meeting
    with pytest.raises(ValidationError, match="cannot carry sip_meeting"):
        rebuilt(merge_example(), sip_meeting=meeting)


def test_the_parts_status_must_agree_with_the_event_code() -> None:
    # Given a booked meeting sent as a cancellation
    event = sip_meeting_example(EventCode.SIP_MEETING_BOOKED)
    # Then the model refuses it: code and part can never disagree
    with pytest.raises(ValidationError, match="needs status cancelled"):
        rebuilt(event, event=EventCode.SIP_MEETING_CANCELLED)


def test_a_receipt_has_no_patient_and_every_other_event_has_one() -> None:
    receipt = example_event(EventCode.RECEIPT)
    with pytest.raises(ValidationError, match="carries no patient"):
        rebuilt(receipt, patient=example_event(EventCode.ADMISSION).patient)
    with pytest.raises(ValidationError, match="needs patient"):
        rebuilt(example_event(EventCode.ADMISSION), patient=None)


def test_text_is_stripped_and_empty_text_is_none() -> None:
    assert CareUnit(hsa_id="  SE1 ", name="", code=" ") == CareUnit(hsa_id="SE1")
    assert HumanName(family=" Tolvansson", given=(" Tolvan ", "", "Erik")) == HumanName(
        family="Tolvansson", given=("Tolvan", "Erik")
    )
    assert Receipt(responds_to="x", code="ok", text="  ").text is None


def test_times_are_pinned_to_their_offset_and_must_be_aware() -> None:
    # Given the autumn's repeated hour in Stockholm (summer-time reading, fold=0)
    local = datetime(2025, 10, 26, 2, 30, tzinfo=STOCKHOLM)
    meeting = SipMeeting(appointment_id="A", start=local, end=local + timedelta(hours=1))
    # Then the model holds the same instant with a fixed offset, equal to the UTC reading
    assert meeting.start is not None
    assert meeting.start.utcoffset() == timedelta(hours=2)
    assert meeting.start == local.astimezone(UTC)
    with pytest.raises(ValidationError, match="timezone"):
        SipMeeting(appointment_id="A", start=datetime(2025, 3, 3, 13), end=datetime(2025, 3, 3, 14))


def test_a_booked_meeting_has_start_and_end_in_order() -> None:
    start = datetime(2025, 3, 6, 13, tzinfo=UTC)
    with pytest.raises(ValidationError, match="start and end"):
        SipMeeting(appointment_id="A", status="booked")
    with pytest.raises(ValidationError, match="both a start and an end"):
        SipMeeting(appointment_id="A", status="cancelled", start=start)
    with pytest.raises(ValidationError, match="end before it starts"):
        SipMeeting(appointment_id="A", start=start, end=start - timedelta(minutes=1))
    assert SipMeeting(appointment_id="A", status="cancelled").start is None


def test_participants_are_kept_units_first_and_need_a_name_hsa_id_or_role() -> None:
    person = Participant(kind="person", name="Vera")
    unit = Participant(kind="unit", hsa_id="SE1")
    start = datetime(2025, 3, 6, 13, tzinfo=UTC)
    meeting = SipMeeting(appointment_id="A", start=start, end=start, participants=(person, unit))
    assert meeting.participants == (unit, person)
    with pytest.raises(ValidationError, match="name, an HSA-id or a role"):
        Participant(kind="person")


def test_message_ignored_is_not_a_rejection() -> None:
    assert not issubclass(MessageIgnored, MessageRejected)
    assert MessageIgnored("A08 without PV2-9").reason == "A08 without PV2-9"


@pytest.mark.parametrize("code", list(EventCode), ids=str)
def test_every_example_survives_the_stored_json_form(code: EventCode) -> None:
    # Given the example of each event type, stored as the service stores it (model_dump_json)
    event = example_event(code)
    # When it is read back / Then it is the same event
    assert type(event).model_validate_json(event.model_dump_json()) == event


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events("fhir"))
def test_generated_events_survive_the_stored_json_form(event: Any) -> None:
    assert type(event).model_validate_json(event.model_dump_json()) == event
