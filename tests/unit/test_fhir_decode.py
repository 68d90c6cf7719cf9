"""FHIR message Bundle → canonical event: what we accept from others, and clear rejections."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.decode import (
    MAX_BODY_BYTES,
    decode_message_bundle,
    relayed_origin,
    request_header_id,
)
from bridge.domain.fhir.encode import encode_message_bundle
from bridge.domain.fhir.examples import (
    EXAMPLE_BUNDLE_ID,
    EXAMPLE_IDEMPOTENCY_KEY,
    EXAMPLE_NOW,
    EXAMPLE_ROUTE,
    admission_example,
)
from bridge.domain.identifiers import HSA_SYSTEM, IdentifierKind, luhn_check_digit
from bridge.domain.model import CareUnit, EventCode, MessageOrigin

Bundle = dict[str, Any]
PATIENT = 1
ENCOUNTER = 2


def example_bundle() -> Bundle:
    return encode_message_bundle(
        admission_example(),
        bundle_id=EXAMPLE_BUNDLE_ID,
        idempotency_key=EXAMPLE_IDEMPOTENCY_KEY,
        now=EXAMPLE_NOW,
        **EXAMPLE_ROUTE,
    )


def resource(bundle: Bundle, position: int) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][position]["resource"]
    return resource


def rejection(body: Any) -> MessageRejected:
    with pytest.raises(MessageRejected) as caught:
        decode_message_bundle(body)
    return caught.value


# --- what the encoder writes and other systems send -------------------------------------------


@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_bytes_text_and_parsed_json_decode_alike(form: str) -> None:
    # Given the example bundle as bytes, text or a parsed dict
    bundle = example_bundle()
    wire = orjson.dumps(bundle)
    forms: dict[str, bytes | str | Bundle] = {"bytes": wire, "str": wire.decode(), "dict": bundle}
    body = forms[form]
    # When it is decoded
    event = decode_message_bundle(body)
    # Then the event, patient and stay come back
    assert event.event is EventCode.ADMISSION
    assert event.patient == admission_example().patient
    assert event.encounter == admission_example().encounter
    assert event.admission_info == admission_example().admission_info


def test_origin_is_this_message_source_and_bundle_identifier() -> None:
    # Given a bundle the bridge sent
    # When it is decoded
    event = decode_message_bundle(example_bundle())
    # Then the dedupe origin is the source name and Bundle.identifier; the earlier origin is kept
    assert event.origin == MessageOrigin(
        sending_application="bridge",
        sending_facility="bridge",
        message_id=f"urn:uuid:{EXAMPLE_IDEMPOTENCY_KEY}",
        sent_at=EXAMPLE_NOW,
    )
    assert relayed_origin(example_bundle()) == admission_example().origin
    assert event.occurred_at == admission_example().occurred_at


def test_without_bundle_identifier_the_message_header_id_is_the_message_id() -> None:
    # Given a bundle without Bundle.identifier and a source with only an endpoint
    bundle = example_bundle()
    del bundle["identifier"]
    header = resource(bundle, 0)
    header["source"] = {"endpoint": "https://takecare.example/fhir"}
    # When it is decoded
    origin = decode_message_bundle(bundle).origin
    # Then MessageHeader.id and source.endpoint identify it
    assert origin.message_id == header["id"]
    assert origin.sending_facility == "https://takecare.example/fhir"


def test_sender_identifier_names_the_facility_when_source_has_neither_name_nor_endpoint() -> None:
    # Given a header whose source has neither name nor endpoint, but a sender identifier
    # When it is decoded / Then the sender's identifier names the sending facility
    bundle = example_bundle()
    header = resource(bundle, 0)
    header["source"] = {}
    header["sender"] = {"identifier": {"system": HSA_SYSTEM, "value": "SE2321000230-HSF"}}
    assert decode_message_bundle(bundle).origin.sending_facility == "SE2321000230-HSF"


def test_another_systems_identifier_forms_are_accepted_and_normalised() -> None:
    # Given a centenarian's 10-digit personnummer under the OID system, a samordningsnummer
    # sent under the personnummer system, and an identifier in an unrelated system
    bundle = example_bundle()
    resource(bundle, PATIENT)["identifier"] = [
        {"system": "https://hospital.example/mrn", "value": "4711"},
        {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "121212+1212"},
        {"system": "http://electronichealth.se/identifier/personnummer", "value": "195509742382"},
    ]
    # When it is decoded
    identifiers = decode_message_bundle(bundle).patient.identifiers
    # Then the Swedish ones are kept in 12-digit form, of the kind the number says
    assert [(ident.kind, ident.value) for ident in identifiers] == [
        (IdentifierKind.PERSONNUMMER, "191212121212"),
        (IdentifierKind.SAMORDNINGSNUMMER, "195509742382"),
    ]


def test_local_reservnummer_typed_pi_keeps_its_assigning_authority() -> None:
    # Given a local reservnummer typed RN under an OID system
    # When it is decoded / Then it is a local reservnummer assigned by that OID
    bundle = example_bundle()
    resource(bundle, PATIENT)["identifier"] = [
        {
            "type": {"coding": [{"system": codes.IDENTIFIER_TYPE_SYSTEM, "code": "RN"}]},
            "system": "urn:oid:1.2.752.97.1",
            "value": "99-1",
        }
    ]
    (ident,) = decode_message_bundle(bundle).patient.identifiers
    assert (ident.kind, ident.value, ident.assigner) == (
        IdentifierKind.LOKALT_RESERVNUMMER,
        "99-1",
        "1.2.752.97.1",
    )


def test_event_uri_to_our_message_definition_is_accepted() -> None:
    # Given eventUri pointing at our MessageDefinition instead of an eventCoding
    # When it is decoded / Then the event is read from the URI
    bundle = example_bundle()
    header = resource(bundle, 0)
    del header["eventCoding"]
    header["eventUri"] = codes.message_definition_url(EventCode.DISCHARGE_READY)
    assert decode_message_bundle(bundle).event is EventCode.DISCHARGE_READY


def test_an_estimated_discharge_date_without_time_is_midnight_in_stockholm() -> None:
    # Given an estimated discharge date sent as a date only
    # When it is decoded / Then it is midnight, Swedish time
    bundle = example_bundle()
    resource(bundle, ENCOUNTER)["extension"][0] = {
        "url": codes.ESTIMATED_DISCHARGE_URL,
        "valueDate": "2025-03-07",
    }
    encounter = decode_message_bundle(bundle).encounter
    assert encounter is not None
    assert encounter.estimated_discharge == datetime(
        2025, 3, 7, tzinfo=ZoneInfo("Europe/Stockholm")
    )


def test_references_by_type_and_id_and_organization_entries_resolve() -> None:
    # Given a bundle using RESTful references and a contained-in-bundle Organization
    bundle = example_bundle()
    bundle["entry"][PATIENT]["fullUrl"] = "https://takecare.example/fhir/Patient/p1"
    resource(bundle, PATIENT)["id"] = "p1"
    resource(bundle, ENCOUNTER)["subject"] = {"reference": "Patient/p1"}
    resource(bundle, PATIENT)["generalPractitioner"] = [{"reference": "Organization/vc"}]
    bundle["entry"].append(
        {
            "fullUrl": "https://takecare.example/fhir/Organization/vc",
            "resource": {
                "resourceType": "Organization",
                "id": "vc",
                "identifier": [{"system": "urn:oid:1.2.752.129.2.1.4.1", "value": "SE-VC9"}],
                "name": "Slite vårdcentral",
            },
        }
    )
    # When it is decoded
    patient = decode_message_bundle(bundle).patient
    # Then the referenced Organization gives the primary care unit (RIV-TA HSA OID accepted)
    assert patient.primary_care_unit == CareUnit(hsa_id="SE-VC9", name="Slite vårdcentral")


def test_reason_falls_back_to_coding_display() -> None:
    # Given a coded reason for admission without text
    # When it is decoded / Then the coding's display is the reason
    bundle = example_bundle()
    resource(bundle, ENCOUNTER)["reasonCode"] = [{"coding": [{"code": "S72", "display": "Höft"}]}]
    info = decode_message_bundle(bundle).admission_info
    assert info is not None
    assert info.reason_for_admission == "Höft"


def test_request_header_id_is_found_without_decoding_and_never_raises() -> None:
    # Given a request, garbage, and a bundle without entries
    # When the request's MessageHeader.id is looked up / Then it is found, or None
    bundle = example_bundle()
    assert request_header_id(orjson.dumps(bundle)) == resource(bundle, 0)["id"]
    assert request_header_id(b"\xff not json") is None
    assert request_header_id({"resourceType": "Bundle", "entry": []}) is None


# --- rejections name the element -------------------------------------------------------------


def mutated(change: Callable[[Bundle], object]) -> Bundle:
    bundle = copy.deepcopy(example_bundle())
    change(bundle)
    return bundle


def set_in(position: int, key: str, value: Any) -> Callable[[Bundle], None]:
    return lambda bundle: resource(bundle, position).__setitem__(key, value)


BAD_CHECK_DIGIT = "19121212121" + str((int(luhn_check_digit("121212121")) + 1) % 10)

REJECTIONS: list[tuple[str, Any, str]] = [
    ("not JSON", b"<Bundle/>", "Bundle"),
    ("invalid UTF-8", b'{"a": "\xff"}', "Bundle"),
    ("a JSON array", b"[]", "Bundle"),
    ("not a Bundle", {"resourceType": "Patient"}, "Bundle"),
    ("not a message", mutated(lambda b: b.__setitem__("type", "collection")), "Bundle.type"),
    ("no entries", mutated(lambda b: b.__setitem__("entry", [])), "Bundle.entry"),
    (
        "header not first",
        mutated(lambda b: b["entry"].reverse()),
        "Bundle.entry[0].resource",
    ),
    (
        "unknown event code",
        mutated(lambda b: resource(b, 0)["eventCoding"].__setitem__("code", "A01")),
        "Bundle.entry[0].resource.eventCoding.code",
    ),
    (
        "foreign event system",
        mutated(lambda b: resource(b, 0)["eventCoding"].__setitem__("system", "http://x")),
        "Bundle.entry[0].resource.eventCoding.system",
    ),
    ("bad header id", mutated(set_in(0, "id", "a b")), "Bundle.entry[0].resource.id"),
    (
        "dangling focus",
        mutated(set_in(0, "focus", [{"reference": "urn:uuid:nowhere"}])),
        "Bundle.entry[0].resource.focus[0].reference",
    ),
    ("no Patient", mutated(lambda b: b["entry"].pop(PATIENT)), "Bundle.entry"),
    (
        "no Swedish identifier",
        mutated(set_in(PATIENT, "identifier", [{"system": "urn:x", "value": "1"}])),
        "Bundle.entry[1].resource.identifier",
    ),
    (
        "bad check digit",
        mutated(
            lambda b: resource(b, PATIENT)["identifier"][0].__setitem__("value", BAD_CHECK_DIGIT)
        ),
        "Bundle.entry[1].resource.identifier[0].value",
    ),
    (
        "non-ASCII digits",
        mutated(
            lambda b: resource(b, PATIENT)["identifier"][0].__setitem__("value", "١٩١٢١٢١٢١٢١٢")
        ),
        "Bundle.entry[1].resource.identifier[0].value",
    ),
    ("unknown gender", mutated(set_in(PATIENT, "gender", "m")), "Bundle.entry[1].resource.gender"),
    (
        "partial birth date",
        mutated(set_in(PATIENT, "birthDate", "1912")),
        "Bundle.entry[1].resource.birthDate",
    ),
    (
        "time without offset",
        mutated(
            lambda b: resource(b, ENCOUNTER)["period"].__setitem__("start", "2025-03-03T08:15:00")
        ),
        "Bundle.entry[2].resource.period.start",
    ),
    (
        "impossible date",
        mutated(lambda b: resource(b, ENCOUNTER)["period"].__setitem__("start", "2025-02-30")),
        "Bundle.entry[2].resource.period.start",
    ),
    (
        "unknown encounter class",
        mutated(lambda b: resource(b, ENCOUNTER)["class"].__setitem__("code", "HH")),
        "Bundle.entry[2].resource.class.code",
    ),
    (
        "wrong JSON type",
        mutated(set_in(PATIENT, "name", {"family": "x"})),
        "Bundle.entry[1].resource.name",
    ),
    (
        "no message identity",
        mutated(lambda b: (b.pop("identifier"), resource(b, 0).pop("id"))),
        "Bundle.identifier",
    ),
    (
        "unnamed source",
        mutated(set_in(0, "source", {})),
        "Bundle.entry[0].resource.source.name",
    ),
]


@pytest.mark.parametrize(("case", "body", "location"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejections_name_the_element(case: str, body: Any, location: str) -> None:
    # Given a message with one problem
    # When it is decoded
    error = rejection(body)
    # Then it is rejected with a reason and the FHIRPath of the problem
    assert error.location == location, error
    assert error.reason


def test_a_body_over_one_mebibyte_is_refused_before_parsing() -> None:
    # Given a body one byte over the cap
    body = b" " * MAX_BODY_BYTES + b"{}"
    # When it is decoded
    started = time.perf_counter()
    error = rejection(body)
    # Then it is refused at once as too long
    assert error.code == "too-long"
    assert time.perf_counter() - started < 0.05


def test_deep_nesting_is_refused() -> None:
    # Given JSON nested 5000 levels deep
    # When it is decoded / Then the parser's depth cap rejects it
    body = b'{"resourceType": "Bundle", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert rejection(body).location == "Bundle"
