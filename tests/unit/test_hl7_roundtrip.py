"""encode_hl7 is the inverse of decode_hl7: decode(encode(event)) == event.for_destination()."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import hl7apy
import hl7apy.parser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_events_strategies import events

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.examples import sip_plan_example
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.hl7.er7 import parse_er7, split_batch
from bridge.domain.model import (
    CareTransitionEvent,
    EventCode,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8"]
ADT_EVENTS = [
    EventCode.ADMISSION,
    EventCode.ESTIMATED_DISCHARGE_CHANGED,
    EventCode.DISCHARGE_READY,
    EventCode.DISCHARGE_READY_WITHDRAWN,
    EventCode.DISCHARGE,
    EventCode.DISCHARGE_CANCELLED,
    EventCode.ADMISSION_CANCELLED,
    EventCode.TRANSFER,
]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def all_fixture_messages() -> list[str]:
    messages: list[str] = []
    for path in sorted(FIXTURES.glob("*.hl7")):
        text = path.read_bytes().decode("utf-8")
        messages += split_batch(text) if path.name.startswith("batch") else [text]
    return messages


# --- canonical events as hypothesis sees them ------------------------------------------------
# Canonical text is normalised: trimmed, not empty, given names one word each. Delimiters,
# escape characters and non-ASCII letters are all in play.


def adt_events() -> st.SearchStrategy[CareTransitionEvent]:
    """Any ADT event HL7 v2 carries completely (the shared strategies, narrowed to ADT)."""
    return events("hl7", codes=ADT_EVENTS)


def encode_as_sent(event: CareTransitionEvent) -> str:
    assert event.origin.hl7_version is not None
    assert event.origin.sent_at is not None
    return encode_hl7(
        event,
        version=event.origin.hl7_version,
        control_id=event.origin.message_id,
        now=event.origin.sent_at,
    )


# --- round trips -----------------------------------------------------------------------------


@settings(max_examples=300)
@given(adt_events())
def test_decode_of_encode_gives_the_canonical_event_back(event: CareTransitionEvent) -> None:
    # Given any canonical ADT event
    # When it is encoded as HL7 v2 and decoded again
    decoded = decode_hl7(encode_as_sent(event))
    # Then nothing was lost or changed (but a protected person's address, which never leaves)
    assert decoded == event.for_destination()


@pytest.mark.parametrize("text", all_fixture_messages())
def test_every_golden_fixture_survives_encode_and_decode(text: str) -> None:
    event = decode_hl7(text)
    assert decode_hl7(encode_as_sent(event)) == event.for_destination()


@pytest.mark.parametrize("version", [v for v in VERSIONS if v in hl7apy.SUPPORTED_LIBRARIES])
def test_encoded_messages_are_real_hl7_for_hl7apy(version: str) -> None:
    # Given the full admission, without skyddad folkbokföring (its ARV is v2.6+ only)
    event = decode_hl7(fixture("adt_a01_v25.hl7"))
    # When it is encoded in each version
    text = encode_hl7(event, version=version, control_id="C1", now=datetime(2024, 3, 1, 12))
    # Then hl7apy reads it and agrees on the key fields
    parsed = hl7apy.parser.parse_message(text, find_groups=False)
    assert parsed.msh.msh_12.to_er7() == version
    assert parsed.msh.msh_10.to_er7() == "C1"
    assert parsed.pid.pid_3.to_er7().startswith("191212121212^^^&1.2.752.129.2.1.3.1&ISO^NNSWE")


def test_both_swedish_identifier_markers_are_emitted() -> None:
    event = decode_hl7(fixture("adt_a01_v23.hl7"))
    message = parse_er7(encode_as_sent(event))
    assert message.get("PID-3-4-2") == "1.2.752.129.2.1.3.1"
    assert message.get("PID-3-4-3") == "ISO"
    assert message.get("PID-3-5") == "NNSWE"


def test_encoding_a_v23_event_uses_the_v23_places() -> None:
    # Given the v2.3 admission (primary care id in XON-3)
    event = decode_hl7(fixture("adt_a01_v23.hl7"))
    message = parse_er7(encode_as_sent(event))
    # Then MSH-9 has two components, the id sits in XON-3 and EVN-1 carries the trigger
    assert message.msh.raw(9) == "ADT^A01"
    assert message.get("PD1-3-3") == "SE2120000803-T1002"
    assert message.get("EVN-1") == "A01"


def test_protected_person_stripped_for_destination_has_no_address_but_keeps_labels() -> None:
    # Given a person with skyddad folkbokföring, prepared for a destination
    event = decode_hl7(fixture("adt_a01_protected_arv.hl7")).for_destination()
    # When encoded in v2.5 (before ARV existed)
    message = parse_er7(encode_hl7(event, version="2.5", control_id="C2", now=datetime.now(UTC)))
    # Then no address is written, PD1-12 says protected and ARV keeps the label distinct
    assert message.msh.raw(12) == "2.5"
    assert message.segment("PID") is not None
    assert message.get("PID-11") == ""
    assert message.get("PD1-12") == "Y"
    assert message.get("ARV-3") == "skyddadFolkbokforing"


def test_a_sip_plan_has_no_hl7_v2_form() -> None:
    # Given a SIP plan event (FHIR only, docs/mapping.md)
    event = sip_plan_example()
    # When it is encoded for an HL7 v2 destination
    with pytest.raises(MessageRejected) as rejected:
        encode_hl7(event, control_id="C3", now=datetime.now(UTC))
    # Then it is refused permanently, naming the event
    assert rejected.value.location == "event"
    assert rejected.value.code == "not-supported"


def test_estimated_discharge_changed_needs_the_estimated_discharge() -> None:
    event = decode_hl7(fixture("adt_a01_local_reservnummer.hl7")).model_copy(
        update={"event": EventCode.ESTIMATED_DISCHARGE_CHANGED}
    )
    with pytest.raises(MessageRejected) as rejected:
        encode_hl7(event, control_id="C4", now=datetime.now(UTC))
    assert rejected.value.location == "encounter.estimated_discharge"


@pytest.mark.parametrize(("version", "control_id"), [("2.2", "C5"), ("3.0", "C5"), ("2.5", "")])
def test_a_bad_version_or_control_id_is_the_callers_mistake(version: str, control_id: str) -> None:
    event = decode_hl7(fixture("adt_a01_v25.hl7"))
    with pytest.raises(ValueError, match=r"version|control_id"):
        encode_hl7(event, version=version, control_id=control_id, now=datetime.now(UTC))
