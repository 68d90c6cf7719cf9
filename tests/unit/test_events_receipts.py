"""Receipts (kvittenser) decode to a CareTransitionEvent with event=receipt and a Receipt part,
from a FHIR response message and from an HL7 v2 application ACK alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.fhir.outcome import operation_outcome, response_bundle
from bridge.domain.hl7.ack import AckIdentity, build_ack
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.header import peek_header
from bridge.domain.model import EVENT_CODE_SYSTEM, EventCode, Receipt

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
NOTICE_ID = "6a1e7e0c-3b0f-5d2e-9d57-2f7a3c1b9e11"
RECEIPT_ID = "11111111-1111-4111-8111-111111111111"
NOTICE = (
    "MSH|^~\\&|bridge|SE2120000803|Treserva|GOTLAND-SOF|20250303100000+0100||ADT^A01^ADT_A01|"
    "BRIDGE-000042|P|2.5\rEVN|A01\rPID|1||191212121212^^^^NNSWE\r"
)


def treserva_receipt(code: str, **response: Any) -> dict[str, Any]:
    """A receipt as the mapping describes it: eventCoding receipt and MessageHeader.response."""
    header: dict[str, Any] = {
        "resourceType": "MessageHeader",
        "id": "r-1",
        "eventCoding": {"system": EVENT_CODE_SYSTEM, "code": "receipt"},
        "source": {"name": "treserva", "endpoint": "http://treserva.test/fhir"},
        "response": {"identifier": NOTICE_ID, "code": code, **response},
    }
    return {
        "resourceType": "Bundle",
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{RECEIPT_ID}"},
        "timestamp": "2025-03-03T10:00:00+01:00",
        "entry": [{"fullUrl": "urn:uuid:r-1", "resource": header}],
    }  # fmt: skip


@pytest.mark.parametrize("code", ["ok", "transient-error", "fatal-error"])
def test_a_fhir_receipt_decodes_to_a_receipt_event(code: str) -> None:
    # Given Treserva's receipt for a notice
    # When the bridge decodes it
    event = decode_message_bundle(treserva_receipt(code))
    # Then it is a receipt naming the notice's MessageHeader.id, with no patient
    assert event.event is EventCode.RECEIPT
    assert event.receipt == Receipt(responds_to=NOTICE_ID, code=code)
    assert event.patient is None
    assert event.origin.sending_facility == "treserva"


def test_a_response_message_is_read_as_a_receipt_with_its_outcome_text() -> None:
    # Given a response message answering a notice, with the reason it could not be filed
    outcome = operation_outcome("Patienten saknas i arbetslistan", None, code="processing")
    bundle = response_bundle(
        NOTICE_ID,
        "fatal-error",
        source_endpoint="http://treserva.test/fhir",
        now=NOW,
        outcome=outcome,
        event=EventCode.ADMISSION,
        source_name="treserva",
    )
    # When it is decoded / Then it is a receipt (whatever its eventCoding) with the text
    event = decode_message_bundle(bundle)
    assert event.event is EventCode.RECEIPT
    assert event.receipt == Receipt(
        responds_to=NOTICE_ID, code="fatal-error", text="Patienten saknas i arbetslistan"
    )


@pytest.mark.parametrize(
    ("bundle", "location"),
    [
        (treserva_receipt("ok", identifier=None), "Bundle.entry[0].resource.response.identifier"),
        (treserva_receipt("maybe"), "Bundle.entry[0].resource.response.code"),
    ],
)
def test_a_broken_fhir_receipt_is_rejected_at_the_element(
    bundle: dict[str, Any], location: str
) -> None:
    with pytest.raises(MessageRejected) as rejected:
        decode_message_bundle(bundle)
    assert rejected.value.location == location


def test_a_receipt_event_without_response_is_rejected() -> None:
    bundle = treserva_receipt("ok")
    del bundle["entry"][0]["resource"]["response"]
    with pytest.raises(MessageRejected) as rejected:
        decode_message_bundle(bundle)
    assert rejected.value.location == "Bundle.entry[0].resource.response"


@pytest.mark.parametrize(
    ("ack_code", "code"),
    [("AA", "ok"), ("CA", "ok"), ("AE", "fatal-error"), ("CE", "transient-error"),
     ("AR", "transient-error"), ("CR", "fatal-error")],
)  # fmt: skip
def test_an_hl7_ack_decodes_to_a_receipt_event(ack_code: Any, code: str) -> None:
    # Given TakeCare's ACK for a notice the bridge sent (built the way the bridge builds ACKs)
    text = build_ack(
        peek_header(NOTICE), ack_code, "Arbetslistan låst" if code != "ok" else "",
        control_id="TC-ACK-1", now=NOW, identity=AckIdentity("Treserva", "GOTLAND-SOF"),
    )  # fmt: skip
    # When the bridge decodes it
    event = decode_hl7(text)
    # Then it is a receipt naming the MSH-10 the bridge sent, with the ACK's own identity
    assert event.event is EventCode.RECEIPT
    assert event.receipt is not None
    assert event.receipt.responds_to == "BRIDGE-000042"
    assert event.receipt.code == code
    assert event.patient is None
    assert event.origin.message_id == "TC-ACK-1"
    assert event.origin.sending_facility == "GOTLAND-SOF"
    if code != "ok":
        assert event.receipt.text == "Arbetslistan låst"


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("MSH|^~\\&|T|F|||20250303||ACK|C1|P|2.5\r", "MSA"),
        ("MSH|^~\\&|T|F|||20250303||ACK|C1|P|2.5\rMSA|XX|BRIDGE-1\r", "MSA-1"),
        ("MSH|^~\\&|T|F|||20250303||ACK|C1|P|2.5\rMSA|AA\r", "MSA-2"),
        ("MSH|^~\\&|T||||20250303||ACK|C1|P|2.5\rMSA|AA|B-1\r", "MSH-4"),
    ],
)
def test_a_broken_ack_is_rejected_at_its_field(text: str, location: str) -> None:
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(text)
    assert rejected.value.location == location
