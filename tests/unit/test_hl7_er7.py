"""The hand-written ER7 parser: delimiters, line endings, escapes, access paths and batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import parse_er7, parse_path, split_batch
from bridge.domain.hl7.escaping import DEFAULT_SEPARATORS, Separators, escape, unescape

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"

MSH = "MSH|^~\\&|TakeCare|SE2120000803|Treserva|GOTLAND-SOF|20240301101500||ADT^A01|1|P|2.5"
PID = "PID|1||191212121212^^^&1.2.752.129.2.1.3.1&ISO^NNSWE~4711^^^VISBY^MR||Tolvansson^Tolvan"


def fixture(name: str) -> str:
    """Fixture text with its segment separators untouched (read_text would translate CRs)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


# --- segments and line endings ---------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_any_segment_separator_gives_the_same_segments(separator: str) -> None:
    # Given the same message with CR, LF or CRLF between segments
    text = separator.join([MSH, "EVN|A01|20240301101400", PID]) + separator
    # When it is parsed
    message = parse_er7(text)
    # Then the segments and values are the same
    assert [segment.name for segment in message.all_segments] == ["MSH", "EVN", "PID"]
    assert message.get("PID-5-2") == "Tolvan"


def test_bom_mllp_framing_and_trailing_whitespace_are_ignored() -> None:
    # Given a message with a BOM, MLLP start/end bytes and blanks around and after segments
    text = "\x0b\ufeff" + MSH + "  \r" + PID + "\t\r\r\n  \n\x1c\r"
    # When it is parsed
    message = parse_er7(text)
    # Then only the two segments are there and the last field has no trailing blanks
    assert [segment.name for segment in message.all_segments] == ["MSH", "PID"]
    assert message.get("MSH-12") == "2.5"
    assert message.get("PID-5-2") == "Tolvan"


def test_a_line_feed_inside_a_field_survives_when_segments_end_with_cr() -> None:
    # Given a CR-separated message whose OBX-5 has a raw line feed
    text = MSH + "\rOBX|1|TX|x||line one\nline two||||||F\r"
    # When it is parsed
    message = parse_er7(text)
    # Then the line feed is part of the value, not a segment break
    assert message.get("OBX-5") == "line one\nline two"


def test_z_segments_are_kept_in_order() -> None:
    message = parse_er7(fixture("adt_a01_zsegment.hl7"))
    names = [segment.name for segment in message.all_segments]
    assert names == ["MSH", "EVN", "PID", "ZTC", "PV1", "ZBR"]
    assert message.get("ZTC-2-2") == "Vårdtillfälle 4711"
    assert [rep.text for rep in message.repetitions("ZTC-3")] == ["x", "y"]


# --- delimiters ------------------------------------------------------------------------------


def test_encoding_characters_are_read_from_msh_1_and_msh_2() -> None:
    # Given a message that uses # $ * @ % instead of | ^ ~ \ &
    text = "MSH#$*@%#App#Fac#####ADT$A01#42#P#2.5\rPID#1##1@F@2$x$y$a%b*second"
    # When it is parsed
    message = parse_er7(text)
    # Then fields, components, subcomponents, repetitions and escapes follow them
    assert message.separators == Separators("#", "$", "*", "@", "%")
    assert message.get("MSH-1") == "#"
    assert message.get("MSH-2") == "$*@%"
    assert message.get("MSH-9-2") == "A01"
    assert message.get("PID-3") == "1#2"
    assert message.get("PID-3-4-2") == "b"
    assert message.get("PID-3[2]") == "second"


def test_v27_truncation_character_in_msh_2_is_accepted() -> None:
    message = parse_er7(fixture("adt_a01_v28.hl7"))
    assert message.get("MSH-2") == "^~\\&#"
    assert message.separators == DEFAULT_SEPARATORS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \r\n ",
        "hello world",
        "PID|1||191212121212",
        "MSH",
        "MSH|",
        "MSHA^~\\&|x",
        "MSH|^^\\&|duplicate component and repetition",
        "MSH|^~\\&abc|too many encoding characters",
        "MSH| ~\\&|blank delimiter",
        MSH + "\rthis is not a segment",
        MSH + "\rpid|lower case",
        MSH + "\r" + MSH,
        "FHS|^~\\&\r" + MSH + "\rFTS|1",
    ],
)
def test_what_is_not_an_er7_message_is_rejected_at_msh(text: str) -> None:
    with pytest.raises(MessageRejected) as rejected:
        parse_er7(text)
    assert rejected.value.location == "MSH"


def test_a_message_over_the_size_limit_is_rejected_before_parsing() -> None:
    # Given a limit of 1 KiB and a message of 2 KiB (multi-byte characters count as bytes)
    text = MSH + "\rOBX|1|TX|x||" + "å" * 600
    # When / Then
    with pytest.raises(MessageRejected) as rejected:
        parse_er7(text, max_size=1024)
    assert rejected.value.location == "MSH"
    assert rejected.value.code == "too-long"
    assert parse_er7(text).get("OBX-5") == "å" * 600


# --- repetitions, components, paths ----------------------------------------------------------


def test_empty_and_repeated_repetitions_are_kept_in_place() -> None:
    message = parse_er7(MSH + "\rPID|1||~~A^^^X^MR~~B~")
    reps = message.repetitions("PID-3")
    assert [rep.raw for rep in reps] == ["", "", "A^^^X^MR", "", "B", ""]
    assert [bool(rep) for rep in reps] == [False, False, True, False, True, False]
    assert message.get("PID-3[3]-5") == "MR"
    assert message.get("PID-3[9]") == ""


def test_components_and_subcomponents_default_to_the_first() -> None:
    message = parse_er7(MSH + "\r" + PID)
    segment = message.segment("PID")
    assert segment is not None
    assert segment.get(3) == "191212121212"
    assert segment.get(3, 4) == ""
    assert segment.get(3, 4, 2) == "1.2.752.129.2.1.3.1"
    assert segment.get(3, 4, 3) == "ISO"
    assert segment.get(3, 4, 4) == ""
    assert segment.get(5, 1, 2) == ""
    assert segment.get(99) == ""
    assert segment.first(3).component_count == 5


def test_segment_occurrences_are_addressed_by_index() -> None:
    message = parse_er7(fixture("adt_a01_v25.hl7"))
    assert len(message.segments("OBX")) == 3
    assert message.get("OBX[2]-3") == "social-situation"
    assert message.get("OBX[4]-3") == ""
    assert message.segment("OBX", 4) is None
    assert message.segments("NK1") == []


@pytest.mark.parametrize("path", ["PID", "PID-0", "OBX[0]-5", "pid-3", "PID-3-x"])
def test_a_malformed_path_is_a_programming_error(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(path)


# --- escape sequences ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("a\\.br\\b", "a\nb"),
        ("\\X41\\", "A"),
        ("\\XC3A5\\", "å"),
        ("\\XE5\\", "å"),  # not UTF-8: read as Latin-1
        ("\\XZZ\\", "\\XZZ\\"),  # not hex: kept
        ("\\H\\bold\\N\\", "\\H\\bold\\N\\"),  # highlighting: kept
        ("\\H\\\\X41\\\\N\\", "\\H\\A\\N\\"),
        ("\\.sp\\", "\\.sp\\"),
        ("unterminated \\F", "unterminated \\F"),
        ("\\", "\\"),
        ("plain", "plain"),
    ],
)
def test_escape_sequences_are_resolved_and_unknown_ones_kept(raw: str, text: str) -> None:
    assert unescape(raw, DEFAULT_SEPARATORS) == text


def test_fixture_escapes_are_resolved() -> None:
    message = parse_er7(fixture("adt_a01_escapes.hl7"))
    assert message.get("PID-5") == "Tolvansson & Berg"
    assert message.get("PID-11") == "Testgatan 12^B"
    assert message.get("PID-11-2") == "c/o Svensson | Lund"
    assert message.get("PV2-3-2") == "Fall ~ yrsel"
    assert message.get("OBX-5") == (
        "Rad 1\nRad 2 \\ snedstreck, hex A och å, okänd \\H\\fet\\N\\ kvar"
    )


@given(st.text())
def test_escape_then_unescape_gives_the_text_back(text: str) -> None:
    written = escape(text)
    assert not set(written) & {"|", "^", "&", "~", "\r", "\n"}
    assert unescape(written, DEFAULT_SEPARATORS) == text


# --- batches ---------------------------------------------------------------------------------


def test_a_batch_file_splits_into_its_messages() -> None:
    # Given a batch file with FHS/BHS, four messages and BTS/FTS
    text = fixture("batch_adt.hl7")
    # When it is split
    messages = split_batch(text)
    # Then each message is a message of its own
    assert len(messages) == 4
    triggers = [parse_er7(message).get("MSH-9-2") for message in messages]
    assert triggers == ["A01", "A08", "A16", "A03"]
    assert all(not message.startswith(("FHS", "BHS")) for message in messages)
    assert "BTS" not in messages[-1]
    assert "FTS" not in messages[-1]


def test_several_messages_without_batch_segments_are_split_too() -> None:
    text = MSH + "\n" + PID + "\n" + MSH.replace("|1|P|", "|2|P|") + "\n" + PID + "\n"
    messages = split_batch(text)
    assert [parse_er7(message).get("MSH-10") for message in messages] == ["1", "2"]


def test_a_batch_whose_count_does_not_match_is_rejected_at_bts_1() -> None:
    text = fixture("batch_adt.hl7").replace("BTS|4", "BTS|5")
    with pytest.raises(MessageRejected) as rejected:
        split_batch(text)
    assert rejected.value.location == "BTS-1"


@pytest.mark.parametrize("text", ["", "FHS|^~\\&\rFTS|0", "FHS|^~\\&\rPID|1\r" + MSH])
def test_a_batch_without_messages_or_with_stray_segments_is_rejected(text: str) -> None:
    with pytest.raises(MessageRejected) as rejected:
        split_batch(text)
    assert rejected.value.location == "MSH"
