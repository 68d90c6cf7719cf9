"""Properties of the FHIR mapping over generated events and generated garbage.

- decode(encode(event)) gives the event back (the origin moves to the message-origin extension);
- everything emitted is valid R4 (R4B models) and keeps the project's profile rules;
- a protected person's address never reaches the wire;
- any bytes, and any mutation of a valid bundle, end as an event or a MessageRejected, fast.
"""

from __future__ import annotations

import copy
import json
import string
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_events_strategies import FHIR_EVENTS
from test_events_strategies import events as any_event

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.decode import READ_FAILURE, decode_message_bundle, relayed_origin
from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.fhir.examples import admission_example, example_event
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.identifiers import IdentifierKind, luhn_check_digit
from bridge.domain.model import (
    Address,
    AdmissionInformation,
    CareTransitionEvent,
    CareUnit,
    Encounter,
    EventCode,
    HumanName,
    MessageOrigin,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)

ROUTE = {
    "source_name": "bridge-test",
    "source_endpoint": "http://bridge.test/fhir",
    "destination_name": "treserva",
    "destination_endpoint": "http://treserva.test/fhir",
}
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SLOW_DECODE_SECONDS = 0.5

# --- strategies for canonical events -----------------------------------------------------------

# Other whitespace than space (e.g. NBSP) is valid FHIR (XML Schema's \s is [ \t\n\r]) but the
# fhir.resources string pattern uses Python's Unicode \s and refuses it: kept out of the text
# the validity tests generate; test_fhir_encode checks such text is carried unchanged.
characters = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")).filter(
    lambda char: char == " " or not char.isspace()
)
texts = st.text(alphabet=characters, min_size=1, max_size=24)
zones = st.sampled_from(
    [
        UTC,
        ZoneInfo("Europe/Stockholm"),
        timezone(timedelta(hours=-5)),
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(seconds=3661)),
    ]
)
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=zones
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def person_numbers(draw: st.DrawFn) -> PatientIdentifier:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)))
    coordination = draw(st.booleans())
    day = born.day + 60 if coordination else born.day
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{draw(st.integers(0, 999)):03d}"
    kind = IdentifierKind.SAMORDNINGSNUMMER if coordination else IdentifierKind.PERSONNUMMER
    digits = f"{born.year // 100}{nine}{luhn_check_digit(nine)}"
    return PatientIdentifier(kind=kind, value=digits)


reserve_values = st.text(
    alphabet=string.ascii_uppercase + string.digits + "-", min_size=1, max_size=20
)
identifiers = st.one_of(
    person_numbers(),
    st.builds(
        PatientIdentifier,
        kind=st.just(IdentifierKind.NATIONELLT_RESERVNUMMER),
        value=reserve_values,
    ),
    st.builds(
        PatientIdentifier,
        kind=st.just(IdentifierKind.LOKALT_RESERVNUMMER),
        value=reserve_values,
        assigner=optional(st.sampled_from(["1.2.752.97.1", "2.16.840.1", "Visby lasarett"])),
    ),
)
units = st.builds(CareUnit, hsa_id=optional(texts), name=optional(texts))
addresses = st.builds(
    Address,
    lines=st.lists(texts, max_size=2).map(tuple),
    postal_code=optional(texts),
    city=optional(texts),
    country=optional(texts),
)
patients = st.builds(
    Patient,
    identifiers=st.lists(identifiers, min_size=1, max_size=3).map(tuple),
    name=optional(
        st.builds(HumanName, family=optional(texts), given=st.lists(texts, max_size=2).map(tuple))
    ),
    birth_date=optional(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 1, 1))),
    gender=optional(st.sampled_from(["male", "female", "other", "unknown"])),
    address=optional(addresses),
    security_labels=st.frozensets(st.sampled_from(list(SecurityLabel))),
    primary_care_unit=optional(units),
)
encounters = st.builds(
    Encounter,
    visit_number=optional(texts),
    class_code=st.sampled_from(["IMP", "AMB", "EMER"]),
    admitted_at=optional(times),
    discharged_at=optional(times),
    unit=optional(units),
    estimated_discharge=optional(times),
)
admission_infos = st.builds(
    AdmissionInformation,
    reason_for_admission=optional(texts),
    housing_situation=optional(texts),
    social_situation=optional(texts),
    care_needs_assessment=optional(texts),
).filter(lambda info: any(info.model_dump().values()))
origins = st.builds(
    MessageOrigin,
    sending_application=optional(texts),
    sending_facility=texts,
    message_id=st.text(alphabet=string.printable.strip(), min_size=1, max_size=40),
    sent_at=optional(times),
    hl7_version=optional(st.sampled_from(["2.3", "2.5", "2.8"])),
)
# Every event type, with the part its kind needs (shared with the test_events_* modules).
events = any_event("fhir", [code for code in FHIR_EVENTS if code is not EventCode.RECEIPT])
keys = st.uuids().map(str)


def encode(
    event: CareTransitionEvent, key: str = "5c1c9d3e-0a7b-4d2c-9e8f-1a2b3c4d5e6f"
) -> dict[str, Any]:
    return encode_message_bundle(event, bundle_id="b-1", idempotency_key=key, now=NOW, **ROUTE)


def expected_after_round_trip(event: CareTransitionEvent, key: str) -> CareTransitionEvent:
    """What decode(encode(event)) must give: the event as it may leave, with this hop's origin."""
    hop = MessageOrigin(
        sending_application="bridge",
        sending_facility=ROUTE["source_name"],
        message_id=f"urn:uuid:{key}",
        sent_at=NOW,
    )
    expected = event.for_destination().model_copy(update={"origin": hop})
    if expected.encounter is None and expected.admission_info is not None:
        expected = expected.model_copy(update={"encounter": Encounter()})
    return expected


# --- round trip ----------------------------------------------------------------------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(event=events, key=keys)
def test_decode_of_encode_gives_the_event_back(event: CareTransitionEvent, key: str) -> None:
    # Given any canonical event
    # When it is encoded for the wire and decoded again
    wire = dumps(encode(event, key))
    decoded = decode_message_bundle(wire)
    # Then every field comes back; the original origin travels in the message-origin extension
    assert instants(decoded) == instants(expected_after_round_trip(event, key))
    origin = relayed_origin(wire)
    assert origin is not None
    assert instants(origin) == instants(event.origin)


def instants(model: BaseModel) -> Any:
    """The model's fields with every datetime as a UTC instant.

    Python's == between a zoneinfo datetime in a DST gap or fold and the same instant in another
    zone is always False (PEP 495), so such times are compared as instants.
    """

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        return value

    return convert(model.model_dump())


# --- everything emitted is valid -----------------------------------------------------------------


@pytest.mark.parametrize("code", FHIR_EVENTS)
@pytest.mark.parametrize("with_stay", [True, False], ids=["with-stay", "without-stay"])
def test_every_event_code_gives_valid_r4_resources(code: EventCode, with_stay: bool) -> None:
    # Given the example notice of each event type, with and without a hospital stay
    event = example_event(code)
    if not with_stay:
        event = event.model_copy(update={"encounter": None, "admission_info": None})
    # When it is encoded
    bundle = encode(event)
    # Then the Bundle and every resource in it pass the R4 models and our profile rules
    assert validate_resource(bundle) == []
    for entry in bundle["entry"]:
        assert validate_resource(entry["resource"]) == []


@settings(max_examples=60, deadline=None)
@given(event=events)
def test_generated_events_give_valid_bundles(event: CareTransitionEvent) -> None:
    # Given any generated event
    # When it is encoded / Then R4 models and profile rules find nothing wrong
    assert validate_resource(encode(event)) == []


# --- protected persons ---------------------------------------------------------------------------


@st.composite
def protected_events(draw: st.DrawFn) -> tuple[CareTransitionEvent, list[str]]:
    serial = draw(st.integers(10**6, 10**7 - 1))
    secrets = [f"Hemliggatan {serial}", f"S{serial}", f"Ortnamn{serial}"]
    address = Address(lines=(secrets[0],), postal_code=secrets[1], city=secrets[2])
    event = draw(events)
    labels = draw(st.frozensets(st.sampled_from(list(SecurityLabel)), min_size=1))
    assert event.patient is not None
    patient = event.patient.model_copy(update={"address": address, "security_labels": labels})
    return event.model_copy(update={"patient": patient}), secrets


@settings(max_examples=60, deadline=None)
@given(case=protected_events())
def test_a_protected_persons_address_is_never_on_the_wire(
    case: tuple[CareTransitionEvent, list[str]],
) -> None:
    # Given a protected person with a (distinctive) registered address
    event, secrets = case
    # When the event is encoded and serialised, without anyone calling for_destination()
    wire = dumps(encode(event))
    # Then no part of the address and no address element is in the bytes
    for secret in secrets:
        assert secret.encode() not in wire
    assert b'"address"' not in wire
    decoded = decode_message_bundle(wire).patient
    assert decoded is not None
    assert decoded.address is None


# --- garbage in: a rejection, never a crash ------------------------------------------------------


def decode_or_reject(body: Any) -> None:
    """Decoding either gives an event or a rejection the decoder meant; always quickly."""
    started = time.perf_counter()
    rejected: MessageRejected | None = None
    try:
        decode_message_bundle(body)
    except MessageRejected as error:
        rejected = error
    assert time.perf_counter() - started < SLOW_DECODE_SECONDS
    if rejected is not None:
        unhandled = rejected.reason.startswith(READ_FAILURE)
        assert not unhandled, f"unhandled input: {rejected.__cause__!r}"
        assert rejected.location


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_are_rejected(body: bytes) -> None:
    # Given any bytes
    # When they are decoded / Then the answer is a deliberate rejection, quickly
    decode_or_reject(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, found)
    return found


@st.composite
def mutated_bundles(draw: st.DrawFn) -> dict[str, Any]:
    """A valid bundle with a few of its objects or arrays changed: replaced, dropped or added."""
    bundle = copy.deepcopy(encode(admission_example()))
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(bundle, [])
        target = draw(st.sampled_from(containers))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if draw(st.booleans()):
                del target[key]
            else:
                target[key] = draw(json_values)
        elif isinstance(target, list) and target:
            index = draw(st.integers(0, len(target) - 1))
            target[index] = draw(json_values)
        elif isinstance(target, dict):
            target[draw(st.text(max_size=8))] = draw(json_values)
    return bundle


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(bundle=mutated_bundles())
def test_mutated_bundles_decode_or_are_rejected(bundle: dict[str, Any]) -> None:
    # Given a valid bundle with objects replaced, dropped or added, as dict and as JSON
    # When it is decoded / Then it decodes or is deliberately rejected, quickly
    decode_or_reject(bundle)
    decode_or_reject(json.dumps(bundle).encode())


@settings(max_examples=80, deadline=None)
@given(event=events)
def test_truncated_wire_bytes_are_rejected(event: CareTransitionEvent) -> None:
    # Given half of a valid message's bytes
    # When they are decoded / Then the answer is a deliberate rejection
    wire = dumps(encode(event))
    decode_or_reject(wire[: len(wire) // 2])


def test_a_large_valid_json_body_is_handled_quickly() -> None:
    # Given a valid bundle padded with a 900 KB array of junk identifiers
    bundle = encode(admission_example())
    patient = bundle["entry"][1]["resource"]
    patient["identifier"] = [{"system": "urn:x", "value": str(n)} for n in range(25_000)] + patient[
        "identifier"
    ]
    wire = orjson.dumps(bundle)
    assert len(wire) < 1 << 20
    # When it is decoded
    started = time.perf_counter()
    decode_message_bundle(wire)
    # Then it takes a fraction of a second
    assert time.perf_counter() - started < 5.0  # hang guard; speed is measured in bench/
