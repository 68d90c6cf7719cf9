"""Acknowledgements: peek_header, build_ack, ack_for_rejection and parse_ack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import hl7apy.parser
import pytest

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.ack import ack_for_rejection, build_ack, error_code_for, parse_ack
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.er7 import parse_er7
from bridge.domain.hl7.header import Hl7Header, peek_header
from bridge.domain.hl7.timestamps import STOCKHOLM

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
NOW = datetime(2024, 3, 1, 10, 15, 30, tzinfo=STOCKHOLM)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def header_for(version: str) -> Hl7Header:
    text = fixture("adt_a01_v25.hl7").replace("|P|2.5|", f"|P|{version}|")
    header = peek_header(text)
    assert header is not None
    return header


# --- peek_header -----------------------------------------------------------------------------


def test_peek_header_reads_the_msh_fields_an_ack_needs() -> None:
    header = peek_header(fixture("adt_a01_v25.hl7"))
    assert header == Hl7Header(
        sending_application=("TakeCare",),
        sending_facility=("SE2120000803",),
        receiving_application=("Treserva",),
        receiving_facility=("GOTLAND-SOF",),
        message_type="ADT",
        trigger_event="A01",
        message_structure="ADT_A01",
        control_id="TC20240301-000123",
        processing_id="P",
        version="2.5",
        accept_ack_type="AL",
        application_ack_type="NE",
        charset="UNICODE UTF-8",
    )
    assert header.enhanced_mode


def test_peek_header_works_when_the_rest_of_the_message_is_garbage() -> None:
    # Given an MSH followed by something that is not HL7, after a BOM and MLLP start byte
    text = "\x0b\ufeffMSH|^~\\&|TC|GOT|||20240301||ADT^A01|ID-42|P|2.5\r<html>oops</html>\x1c\r"
    # Then decoding rejects it, but the header can still be read for the ACK
    with pytest.raises(MessageRejected):
        decode_hl7(text)
    header = peek_header(text)
    assert header is not None
    assert header.control_id == "ID-42"
    assert header.sending_application == ("TC",)
    assert not header.enhanced_mode


def test_peek_header_uses_the_messages_own_delimiters() -> None:
    header = peek_header("MSH#$*@%#App$1.2.3$ISO#Fac#####ADT$A16#ID@F@7#T#2.4")
    assert header is not None
    assert header.sending_application == ("App", "1.2.3", "ISO")
    assert header.trigger_event == "A16"
    assert header.control_id == "ID#7"


@pytest.mark.parametrize("text", ["", "hello", "MSH", "MSHX^~\\&|", "PID|1||x", "MSH|  |x"])
def test_peek_header_gives_none_when_there_is_no_usable_msh(text: str) -> None:
    assert peek_header(text) is None


# --- build_ack -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.5", "2.5.1", "2.6", "2.7", "2.8"])
def test_v25_and_later_reject_names_the_field_in_err_2_3_4_and_8(version: str) -> None:
    # Given a v2.5+ message whose personnummer has a wrong check digit
    header = header_for(version)
    # When the bridge rejects it
    ack = build_ack(header, "AR", "PID-3: personnummer check digit is wrong", "PID-3", NOW, "ACK-1")
    message = parse_er7(ack)
    # Then the ACK comes from the bridge, goes back to the sender, in the sender's version,
    # echoing MSH-10
    assert message.msh.raw(3) == "BRIDGE"
    assert message.msh.raw(4) == "REGION-GOTLAND"
    assert message.msh.raw(5) == "TakeCare"
    assert message.msh.raw(6) == "SE2120000803"
    assert message.msh.raw(7) == "20240301101530+0100"
    assert message.msh.raw(9) == "ACK^A01^ACK"
    assert message.msh.raw(10) == "ACK-1"
    assert message.msh.raw(11) == "P"
    assert message.msh.raw(12) == version
    msa = message.segment("MSA")
    assert msa is not None
    assert msa.fields[1:] == ["AR", "TC20240301-000123"]
    # And ERR names segment and field, the 0357 code, severity and the human text
    err = message.segment("ERR")
    assert err is not None
    assert err.raw(2) == "PID^1^3"
    assert err.raw(3) == "102^Data type error^HL70357"
    assert err.raw(4) == "E"
    assert err.get(8) == "PID-3: personnummer check digit is wrong"


@pytest.mark.parametrize(("version", "message_type"), [("2.3", "ACK^A01"), ("2.4", "ACK^A01^ACK")])
def test_before_v25_the_text_is_in_msa_3_and_the_location_in_err_1(
    version: str, message_type: str
) -> None:
    ack = build_ack(header_for(version), "AR", "MSH-10: empty", "MSH-10", NOW, "ACK-2")
    message = parse_er7(ack)
    assert message.msh.raw(9) == message_type
    assert message.get("MSA-3") == "MSH-10: empty"
    err = message.segment("ERR")
    assert err is not None
    assert err.fields[1:] == ["MSH^1^10^102&Data type error&HL70357"]


@pytest.mark.parametrize("code", ["AA", "CA"])
def test_an_accept_has_no_err_segment(code: str) -> None:
    ack = build_ack(header_for("2.5"), code, now=NOW, control_id="ACK-3")  # type: ignore[arg-type]
    message = parse_er7(ack)
    assert [segment.name for segment in message.all_segments] == ["MSH", "MSA"]
    assert parse_ack(ack) == (code, "TC20240301-000123", "")


@pytest.mark.parametrize(
    ("text", "location", "code", "expected"),
    [
        ("MSH-9: ORU^R01 is not accepted", "MSH-9", "AR", "200"),
        ("MSH-12: version 2.2", "MSH-12", "AR", "203"),
        ("MSH: not HL7", "MSH", "AR", "100"),
        ("PV1-44: bad time", "PV1-44", "AR", "102"),
        ("database unavailable", None, "AE", "207"),
        ("database unavailable", None, "CE", "207"),
        ("no location", None, "AR", "207"),
    ],
)
def test_the_0357_code_follows_from_the_location_when_not_given(
    text: str, location: str | None, code: str, expected: str
) -> None:
    ack = build_ack(header_for("2.5"), code, text, location, NOW, "A")  # type: ignore[arg-type]
    assert parse_er7(ack).get("ERR-3") == expected


@pytest.mark.parametrize(
    ("rejection", "expected"),
    [
        (MessageRejected("x", "MSH", code="structure"), "100"),
        (MessageRejected("x", "MSH", code="too-long"), "100"),
        (MessageRejected("x", "MSH-10", code="required"), "101"),
        (MessageRejected("x", "PID-3"), "102"),
        (MessageRejected("x", "PV1-44", code="value"), "102"),
        (MessageRejected("x", "MSH-9", code="not-supported"), "200"),
        (MessageRejected("x", "MSH-12", code="not-supported"), "203"),
    ],
)
def test_error_code_for_a_rejection(rejection: MessageRejected, expected: str) -> None:
    assert error_code_for(rejection) == expected


def test_no_personnummer_ever_appears_in_ack_text() -> None:
    # Given a reason that quotes personnummer in several forms
    text = "PID-3: 191212121212, 19121212-1212 and 121212-1212 do not match"
    # When the ACK is built in an old and a new version
    for version in ("2.3", "2.5"):
        ack = build_ack(header_for(version), "AR", text, "PID-3", NOW, "A")
        # Then none of them is in it
        for number in ("191212121212", "19121212-1212", "121212-1212", "1212121212"):
            assert number not in ack
        assert "19121212-****" in ack


def test_without_a_header_the_ack_is_v25_and_echoes_nothing() -> None:
    ack = build_ack(None, "AR", "MSH: the message is empty", "MSH", NOW, "A")
    message = parse_er7(ack)
    assert message.msh.raw(9) == "ACK"
    assert message.msh.raw(12) == "2.5"
    assert message.get("MSA-2") == ""
    assert message.get("ERR-2") == "MSH"
    assert message.get("ERR-3") == "100"


def test_ack_fields_from_the_sender_are_escaped_for_standard_delimiters() -> None:
    header = peek_header("MSH#$*@%#App$1.2.3$ISO#Fac|x#####ADT$A16#ID^7#P#2.4")
    ack = build_ack(header, "AA", now=NOW, control_id="A")
    message = parse_er7(ack)
    assert message.get("MSH-5-2") == "1.2.3"
    assert message.get("MSH-6") == "Fac|x"
    assert message.get("MSA-2") == "ID^7"


def test_default_time_and_control_id_are_filled_in() -> None:
    message = parse_er7(build_ack(header_for("2.5"), "AA"))
    assert len(message.msh.raw(10)) == 20
    assert len(message.msh.raw(7)) == len("20240301101530+0100")


def test_ack_for_rejection_from_a_real_decode_failure() -> None:
    # Given a message with a bad check digit
    text = fixture("adt_a01_v25.hl7").replace("191212121212", "191212121213")
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(text)
    # When the rejection becomes an ACK
    ack = ack_for_rejection(peek_header(text), rejected.value, now=NOW, control_id="A")
    # Then the sender reads where and why
    assert parse_ack(ack) == ("AR", "TC20240301-000123", "PID-3: personnummer check digit is wrong")
    assert parse_er7(ack).get("ERR-3") == "102"


@pytest.mark.parametrize("version", ["2.3", "2.4", "2.5", "2.6", "2.8"])
def test_acks_are_real_hl7_for_hl7apy(version: str) -> None:
    ack = build_ack(header_for(version), "AE", "PV1-44: bad time", "PV1-44", NOW, "A")
    parsed = hl7apy.parser.parse_message(ack, find_groups=False)
    assert parsed.msa.msa_1.to_er7() == "AE"
    assert parsed.msa.msa_2.to_er7() == "TC20240301-000123"
    assert parsed.err.to_er7().startswith("ERR|")


# --- parse_ack -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_parse_ack_reads_our_own_acks(version: str) -> None:
    ack = build_ack(header_for(version), "CR", "MSH-12: no", "MSH-12", NOW, "A")
    assert parse_ack(ack) == ("CR", "TC20240301-000123", "MSH-12: no")


def test_parse_ack_falls_back_to_the_error_name() -> None:
    ack = (
        "MSH|^~\\&|T|G|B|S|20240301||ACK^A01^ACK|9|P|2.5\r"
        "MSA|AE|ID-7\r"
        "ERR||PV1^1^44|102^Data type error^HL70357|E"
    )
    assert parse_ack(ack) == ("AE", "ID-7", "Data type error")


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("MSH|^~\\&|T|G|B|S|20240301||ADT^A01|9|P|2.5\rPID|1", "MSA"),
        ("MSH|^~\\&|T|G|B|S|20240301||ACK|9|P|2.5\rMSA|OK|ID-7", "MSA-1"),
        ("not an ack", "MSH"),
    ],
)
def test_parse_ack_rejects_what_is_not_an_ack(text: str, location: str) -> None:
    with pytest.raises(MessageRejected) as rejected:
        parse_ack(text)
    assert rejected.value.location == location
