"""Cross-check: every golden fixture is real HL7 that hl7apy reads too, and reads the same way."""

from __future__ import annotations

from pathlib import Path

import hl7apy.parser
import pytest

from bridge.domain.hl7.er7 import BATCH_SEGMENTS, parse_er7, segment_lines, split_batch

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
MESSAGE_FIXTURES = sorted(path.name for path in FIXTURES.glob("adt_*.hl7"))


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def for_hl7apy(text: str) -> str:
    """hl7apy wants CR-separated segments and no BOM or blank lines; that is all we change."""
    return "\r".join(segment_lines(text))


def test_there_is_a_fixture_for_every_case_the_brief_names() -> None:
    assert set(MESSAGE_FIXTURES) >= {
        "adt_a01_v23.hl7",
        "adt_a01_v25.hl7",
        "adt_a01_v28.hl7",
        "adt_a01_samordningsnummer.hl7",
        "adt_a01_local_reservnummer.hl7",
        "adt_a01_protected_arv.hl7",
        "adt_a01_protected_pd1.hl7",
        "adt_a01_zsegment.hl7",
        "adt_a01_escapes.hl7",
        "adt_a01_lf.hl7",
        "adt_a01_bom.hl7",
    }


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
def test_each_golden_fixture_parses_with_hl7apy_and_agrees_with_ours(name: str) -> None:
    # Given a golden fixture
    text = fixture(name)
    # When hl7apy (validation off) and our parser both read it
    theirs = hl7apy.parser.parse_message(for_hl7apy(text), find_groups=False)
    ours = parse_er7(text)
    # Then they see the same segments, the same MSH-10 and the same PID-3 repetitions
    assert [child.name for child in theirs.children] == [s.name for s in ours.all_segments]
    assert theirs.msh.msh_10.to_er7() == ours.msh.raw(10)
    assert theirs.msh.msh_12.to_er7() == ours.msh.raw(12)
    assert [rep.to_er7() for rep in theirs.pid.pid_3] == [
        rep.raw for rep in ours.repetitions("PID-3")
    ]


def test_the_batch_fixture_is_real_hl7_for_hl7apy() -> None:
    text = fixture("batch_adt.hl7")
    for line in segment_lines(text):
        if line[:3] in BATCH_SEGMENTS:
            assert hl7apy.parser.parse_segment(line, version="2.5").name == line[:3]
    for message in split_batch(text):
        parsed = hl7apy.parser.parse_message(message, find_groups=False)
        assert parsed.msh.msh_10.to_er7() == parse_er7(message).msh.raw(10)


EVENT_FIXTURES = sorted(
    str(path.relative_to(FIXTURES)) for path in (FIXTURES / "events").rglob("*.hl7")
)
_KEY_FIELDS = {"SCH": 2, "MRG": 1, "MSA": 2, "PV1": 19, "AIP": 3, "AIG": 3}


@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_every_event_fixture_is_real_hl7_for_hl7apy(name: str) -> None:
    # Given a golden message of any event type (SIU, ADT^A40, home-care A01/A03, ACK, …)
    text = fixture(name)
    # When hl7apy (validation off) and our parser both read it
    theirs = hl7apy.parser.parse_message(for_hl7apy(text), find_groups=False)
    ours = parse_er7(text)
    # Then they see the same segments and the same key field of each event's own segments
    assert [child.name for child in theirs.children] == [s.name for s in ours.all_segments]
    assert theirs.msh.msh_10.to_er7() == ours.msh.raw(10)
    for child, segment in zip(theirs.children, ours.all_segments, strict=True):
        field = _KEY_FIELDS.get(segment.name)
        if field is not None and segment.raw(field):
            assert getattr(child, f"{segment.name.lower()}_{field}").to_er7() == segment.raw(field)
