"""docs/hl7-conformance.md holds: every answer in its table is the one the bridge gives, read
back by two independent libraries (python-hl7, and hl7apy validating for the message's version).
Also MSH-18 character sets and what real feeds send (CR/LF/CRLF, BOM, trailing blank lines)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import hl7
import hl7apy.parser
import pytest
from hl7apy.consts import VALIDATION_LEVEL

from bridge.contracts.er7_edit import edit_message
from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.hl7.ack_policy import AckContext
from bridge.domain.model import EventCode
from bridge.domain.routing import (
    AckConvention,
    Acknowledgements,
    Destination,
    Route,
    RoutingTable,
    Source,
)
from bridge.entrypoints.replies import hl7_reply
from bridge.service.delivery.accept import AcceptResult, AcceptStatus, Inbound, decode, hl7_messages
from bridge.service.delivery.outbound import HL7_V2

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "hl7-conformance.md"
FIXTURES = ROOT / "tests" / "fixtures" / "hl7"
BASE = (FIXTURES / "adt_a01_v25.hl7").read_bytes().decode("utf-8")
ORIGINAL = edit_message(BASE, {"MSH-15": "", "MSH-16": ""})
BAD_PNR = "191212121213^^^&1.2.752.129.2.1.3.1&ISO^NNSWE"
VERSIONS = ["2.3", "2.4", "2.5", "2.6", "2.7", "2.8"]


@dataclass(frozen=True)
class Row:
    id: str
    original: str
    enhanced: str
    location: str
    error_code: str
    text: str


def table() -> dict[str, Row]:
    """The rows of the "Every answer" table."""
    section = DOC.read_text(encoding="utf-8").split("## Every answer", 1)[1]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] in ("id", "---"):
            continue
        ident, _, original, enhanced, location, code, text = cells
        rows[ident] = Row(ident, original, enhanced, location, code, text)
    return rows


def situation(ident: str) -> bytes | None:
    """The message for a row (None: the row is about the bridge's state, not the message)."""
    edits: dict[str, dict[str, str]] = {
        "accepted": {},
        "filtered": {"MSH-9": "ADT^A08^ADT_A01", "EVN-1": "A08", "PV2-9": ""},
        "bad-check-digit": {"PID-3": BAD_PNR},
        "no-swedish-id": {"PID-3": "MRN123^^^TAKECARE^MR"},
        "empty-control-id": {"MSH-10": ""},
        "empty-facility": {"MSH-4": ""},
        "bad-time": {"PV1-44": "2024-03-01"},
        "bad-ack-condition": {"MSH-16": "XX"},
        "unsupported-trigger": {"MSH-9": "ADT^A99^ADT_A01"},
        "unsupported-processing": {"MSH-11": "X"},
        "unsupported-version": {"MSH-12": "2.9"},
        "unsupported-charset": {"MSH-18": "UNICODE UTF-16"},
    }
    if ident in edits:
        return edit_message(ORIGINAL, edits[ident]).encode()
    if ident == "no-pid":
        return edit_message(ORIGINAL, {}, remove=["PID"]).encode()
    if ident == "bad-bytes":
        return edit_message(ORIGINAL, {"MSH-18": "ASCII"}).encode("utf-8")
    if ident == "not-er7":
        return b"MSH|^~\\&|TC|GOT|||20240301||ADT^A01|ID-42|P|2.5\r<html>oops</html>\r"
    if ident == "receipt":
        return (FIXTURES / "events" / "ack_aa_receipt_v25.hl7").read_bytes()
    return None


def accept_result(raw: bytes) -> AcceptResult:
    """What the Acceptor decides, without a database (a rejection counted as not stored)."""
    try:
        event = decode(Inbound(raw, HL7_V2, "test", "test"))
    except MessageRejected as rejected:
        return AcceptResult(AcceptStatus.REJECTED, error=rejected)
    except MessageIgnored:
        return AcceptResult(AcceptStatus.IGNORED, message_id="filtered-1")
    return AcceptResult(AcceptStatus.ACCEPTED, message_id="m-1", event=event)


def answer(ident: str, raw: bytes, *, enhanced: bool) -> str:
    text = raw.decode("iso8859-1")
    if enhanced and ident == "not-er7":
        raw = raw.replace(b"|P|2.5\r", b"|P|2.5|||AL|NE\r")
    elif enhanced and ident != "bad-ack-condition":
        raw = edit_message(text, {"MSH-15": "AL", "MSH-16": "NE"}).encode("iso8859-1")
    result = (
        accept_result(raw) if ident != "unavailable" else AcceptResult(AcceptStatus.UNAVAILABLE)
    )
    reply = hl7_reply(result, raw)
    assert reply.send
    return reply.body.decode(_codec(reply.body))


def _codec(body: bytes) -> str:
    return "utf-8" if b"UNICODE UTF-8" in body or b"|8859" not in body else "iso8859-1"


def err_facts(ack: str) -> tuple[str, str, str]:
    """(location as SEG-field, table 0357 code, text) read with python-hl7."""
    message = hl7.parse(ack)
    version = str(message.segment("MSH")[12])
    err = message.segment("ERR")
    modern = tuple(int(p) for p in version.split(".")[:2]) >= (2, 5)
    if modern:
        location = err[2][0] if str(err[2]) else [""]
        segment, field = str(location[0]), str(location[2]) if len(location) > 2 else ""
        code, text = str(err[3][0][0]), str(err[8]) if len(err) > 8 else ""
    else:
        eld = err[1][0]
        segment, field = str(eld[0]), str(eld[2])
        code = str(eld[3][0]) if len(eld) > 3 else ""
        text = str(message.segment("MSA")[3])
    where = f"{segment}-{field}" if field else segment
    return where, code, text


def validate_with_hl7apy(ack: str, version: str) -> None:
    if version == "2.3":
        # hl7apy's 2.3 library has no ACK_A01 structure; check each segment strictly instead.
        for line in ack.strip("\r").split("\r"):
            hl7apy.parser.parse_segment(
                line, version="2.3", validation_level=VALIDATION_LEVEL.STRICT
            )
        return
    message = hl7apy.parser.parse_message(ack, validation_level=VALIDATION_LEVEL.STRICT)
    assert message.validate()


ROWS = table()


def test_the_table_covers_every_situation_the_tests_know() -> None:
    assert set(ROWS) == {
        "accepted", "filtered", "receipt", "bad-check-digit", "no-swedish-id", "no-pid",
        "empty-control-id", "empty-facility", "bad-time", "bad-ack-condition", "bad-bytes",
        "not-er7", "unsupported-trigger", "unsupported-processing", "unsupported-version",
        "unsupported-charset", "unavailable",
    }  # fmt: skip


@pytest.mark.parametrize("enhanced", [False, True], ids=["original", "enhanced"])
@pytest.mark.parametrize("ident", sorted(ROWS))
def test_every_answer_in_the_table_is_the_one_the_bridge_gives(ident: str, enhanced: bool) -> None:
    # Given the situation's message (or the bridge's state)
    row = ROWS[ident]
    if not enhanced and row.original == "-":
        pytest.skip("only in enhanced mode")
    raw = situation(ident) or ORIGINAL.encode()
    # When the bridge answers it
    ack = answer(ident, raw, enhanced=enhanced)
    # Then python-hl7 reads the documented MSA-1, MSA-2 echoing MSH-10, and the ERR
    message = hl7.parse(ack)
    msa = message.segment("MSA")
    assert str(msa[1]) == (row.enhanced if enhanced else row.original)
    sent_control_id = re.search(rb"\|([^|]*)\|[PTDX]?\|2\.", raw)
    if ident not in ("not-er7", "empty-control-id") and sent_control_id:
        assert str(msa[2]) == sent_control_id.group(1).decode()
    if not row.error_code:
        assert not _has_err(message)
        return
    location, code, text = err_facts(ack)
    assert code == row.error_code
    assert location == row.location
    assert row.text.lower() in text.lower()
    # And the ACK names the bridge as its sender and the message's sender as its receiver
    assert str(message.segment("MSH")[3]) == "BRIDGE"


def _has_err(message: hl7.Message) -> bool:
    return any(str(segment[0]) == "ERR" for segment in message)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "ident", ["accepted", "bad-check-digit", "unsupported-trigger", "bad-time", "unavailable"]
)
def test_the_acks_validate_with_hl7apy_for_the_message_s_version(ident: str, version: str) -> None:
    # Given the situation in one HL7 version
    raw = (situation(ident) or ORIGINAL.encode()).replace(b"|P|2.5|", f"|P|{version}|".encode())
    # When the bridge answers it, in both modes
    for enhanced in (False, True):
        ack = answer(ident, raw, enhanced=enhanced)
        # Then hl7apy, strict, finds it valid for that version, and python-hl7 reads MSA-1
        validate_with_hl7apy(ack, version)
        row = ROWS[ident]
        assert str(hl7.parse(ack).segment("MSA")[1]) == (row.enhanced if enhanced else row.original)


# --- MSH-18 --------------------------------------------------------------------------------


def latin1_message(name: str = "Åström^Märta") -> bytes:
    text = edit_message(ORIGINAL, {"MSH-18": "8859/1", "PID-5": name})
    return text.encode("iso8859-1")


def test_a_latin1_message_is_read_by_its_declared_character_set() -> None:
    # Given a Latin-1 sender declaring 8859/1 with "Åström" in PID-5
    raw = latin1_message()
    # When the bridge decodes it
    event = decode(Inbound(raw, HL7_V2, "test", "test"))
    # Then the name is Åström, not mojibake
    assert event.patient is not None
    assert event.patient.name is not None
    assert event.patient.name.family == "Åström"


def test_the_ack_to_a_latin1_sender_is_latin1_and_echoes_msh_18() -> None:
    # Given a Latin-1 message with a content error whose text the sender will read
    raw = edit_message(latin1_message().decode("iso8859-1"), {"PID-3": BAD_PNR}).encode("iso8859-1")
    # When the bridge answers
    reply = hl7_reply(accept_result(raw), raw)
    # Then the answer is ISO 8859-1 bytes with MSH-18 = 8859/1
    text = reply.body.decode("iso8859-1")
    assert hl7.parse(text).segment("MSH")[18][0] == "8859/1"
    assert reply.code == "AE"
    assert "Ã" not in text


def test_a_text_with_characters_outside_the_set_is_still_valid_bytes() -> None:
    # Given an ASCII sender; When the answer must carry non-ASCII text (a bad-bytes error)
    raw = edit_message(ORIGINAL, {"MSH-18": "ASCII", "PID-5": "Åström"}).encode("iso8859-1")
    reply = hl7_reply(accept_result(raw), raw)
    # Then the ACK is pure ASCII and says where the problem is
    reply.body.decode("ascii")
    assert reply.code == "AE"
    assert b"MSH-18" in reply.body


def test_an_unknown_character_set_is_ar_naming_msh_18_in_utf8() -> None:
    raw = edit_message(ORIGINAL, {"MSH-18": "KLINGON"}).encode()
    reply = hl7_reply(accept_result(raw), raw)
    message = hl7.parse(reply.body.decode("utf-8"))
    assert reply.code == "AR"
    assert str(message.segment("ERR")[2][0][0]) == "MSH"
    assert str(message.segment("ERR")[2][0][2]) == "18"
    assert len(message.segment("MSH")) <= 13 or not str(message.segment("MSH")[18])


# --- enhanced mode: MSH-15 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "good_sent", "bad_sent"),
    [("AL", True, True), ("NE", False, False), ("ER", False, True), ("SU", True, False)],
)
def test_msh_15_decides_whether_the_accept_ack_is_sent(
    condition: str, good_sent: bool, bad_sent: bool
) -> None:
    good = edit_message(ORIGINAL, {"MSH-15": condition, "MSH-16": "NE"}).encode()
    bad = edit_message(ORIGINAL, {"MSH-15": condition, "MSH-16": "NE", "MSH-12": "2.9"}).encode()
    assert hl7_reply(accept_result(good), good).send is good_sent
    assert hl7_reply(accept_result(bad), bad).send is bad_sent


def _routing(convention: AckConvention, return_address: str | None = None) -> RoutingTable:
    return RoutingTable(
        sources=(
            Source(
                name="takecare",
                facilities=("SE2120000803",),
                acknowledgements=Acknowledgements(
                    convention=convention, return_address=return_address
                ),
            ),
        ),
        destinations=(Destination(name="treserva", address="http://127.0.0.1:1/fhir"),),
        routes=(Route(events=frozenset({EventCode.ADMISSION}), destinations=("treserva",)),),
    )


def test_with_a_return_address_a_content_error_is_ca_then_application_ae() -> None:
    # Given a source with a return address for application ACKs, asking for errors (MSH-16 ER)
    context = AckContext(routing=_routing(AckConvention.STANDARD, "mllp://127.0.0.1:2577"))
    raw = edit_message(ORIGINAL, {"MSH-15": "AL", "MSH-16": "ER", "PID-3": BAD_PNR}).encode()
    rejected = accept_result(raw)
    stored = AcceptResult(AcceptStatus.REJECTED, message_id="outcome-1", error=rejected.error)
    # Then the accept ACK is CA once the rejection is stored, CE while it is not
    assert hl7_reply(stored, raw, context).code == "CA"
    assert hl7_reply(rejected, raw, context).code == "CE"


@pytest.mark.parametrize(
    ("ident", "legacy"),
    [
        ("accepted", "AA"),
        ("bad-check-digit", "AR"),
        ("unsupported-version", "AR"),
        ("unavailable", "AE"),
    ],
)
def test_a_legacy_source_keeps_the_old_answers(ident: str, legacy: str) -> None:
    context = AckContext(routing=_routing(AckConvention.LEGACY))
    raw = situation(ident) or ORIGINAL.encode()
    result = (
        accept_result(raw) if ident != "unavailable" else AcceptResult(AcceptStatus.UNAVAILABLE)
    )
    assert hl7_reply(result, raw, context).code == legacy


# --- what real feeds send ------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: t.replace("\r", "\n"),
        lambda t: t.replace("\r", "\r\n"),
        lambda t: "\ufeff" + t,
        lambda t: t + "\r\n\r\n  \n",
        lambda t: t.replace("\r", "  \r"),
        lambda t: "\n\n" + t.replace("\r", "\r\n") + "\t\n",
    ],
    ids=["lf", "crlf", "bom", "trailing-blank-lines", "trailing-spaces", "mixed"],
)
def test_line_ends_bom_and_trailing_whitespace_are_accepted(variant: object) -> None:
    assert callable(variant)
    raw = variant(ORIGINAL).encode("utf-8")
    result = accept_result(raw)
    assert result.status is AcceptStatus.ACCEPTED, result.error
    assert hl7_reply(result, raw).code == "AA"


def test_garbage_is_answered_with_a_reason_never_a_crash() -> None:
    for raw in (b"", b"\x00\xff\xfe", b"hello", b"MSH|", "MSH|^~\\&|Å".encode("utf-16")):
        reply = hl7_reply(accept_result(raw), raw)
        assert reply.code in ("AE", "AR")
        assert b"ERR|" in reply.body


def test_a_latin1_batch_keeps_each_message_in_its_declared_set() -> None:
    # Given an FHS/BHS batch of two Latin-1 messages declaring 8859/1
    first = latin1_message().decode("iso8859-1")
    second = edit_message(first, {"MSH-10": "TC-2"})
    batch = "\r".join(
        ["FHS|^~\\&|TakeCare|SE2120000803", "BHS|^~\\&|TakeCare|SE2120000803", first, second]
    )
    batch += "\rBTS|2\rFTS|1\r"
    # When it is split into messages and each is decoded
    raw = batch.encode("iso8859-1")
    names = []
    for message in hl7_messages(raw):
        event = decode(Inbound(message, HL7_V2, "test", "test"))
        assert event.patient is not None and event.patient.name is not None
        names.append(event.patient.name.family)
    # Then both read Åström
    assert names == ["Åström", "Åström"]


def test_the_quick_application_ack_check_reads_msh_16_only() -> None:
    from bridge.service.delivery.application_acks import _may_ask_for_application_ack

    base = b"MSH|^~\\&|TC|F|B|G|20240301101500||ADT^A01|X1|P|2.5|||{15}|{16}|\rPID|1\r"
    assert not _may_ask_for_application_ack(b"MSH|^~\\&|TC|F|B|G|20240301||ADT^A01|X1|P|2.5\r")
    assert not _may_ask_for_application_ack(base.replace(b"{15}", b"AL").replace(b"{16}", b"NE"))
    assert not _may_ask_for_application_ack(base.replace(b"{15}", b"AL").replace(b"{16}", b""))
    assert _may_ask_for_application_ack(base.replace(b"{15}", b"NE").replace(b"{16}", b"AL"))
    assert _may_ask_for_application_ack(base.replace(b"{15}", b"").replace(b"{16}", b"er"))
    assert _may_ask_for_application_ack(b"no header at all")
