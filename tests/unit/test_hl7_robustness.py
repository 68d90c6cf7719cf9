"""Whatever arrives, decoding ends quickly in an event or a MessageRejected, never anything else."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.domain.errors import MessageIgnored, MessageRejected
from bridge.domain.hl7.ack import build_ack, parse_ack
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.hl7.er7 import MAX_MESSAGE_SIZE, parse_er7, split_batch
from bridge.domain.hl7.header import peek_header
from bridge.domain.model import CareTransitionEvent

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
GOLDEN = [path.read_bytes().decode("utf-8") for path in sorted(FIXTURES.glob("adt_*.hl7"))]
QUICK = 1.0  # seconds; generous for a loaded CI machine, far below "unbounded"
ER7_PIECES = [
    "|",
    "^",
    "~",
    "\\",
    "&",
    "\r",
    "\n",
    "MSH|^~\\&|",
    "PID|",
    "PV1|",
    "OBX|",
    "\\X",
    "\\.br\\",
    "NNSWE",
    "191212121212",
    "2.5",
    "ADT^A01",
    "A01",
    "20240301",
    "+0100",
]


def outcome(action: Callable[[str], object], text: str) -> object:
    """What ``action`` returns, or the MessageRejected / MessageIgnored it raises; anything else
    propagates."""
    try:
        return action(text)
    except MessageRejected as rejected:
        return rejected
    except MessageIgnored as ignored:
        return ignored


def decode_or_reject(text: str) -> None:
    """The property: an event or MessageRejected with a location, within QUICK seconds."""
    started = time.perf_counter()
    result = outcome(decode_hl7, text)
    if isinstance(result, MessageRejected):
        assert result.location
        assert result.reason
    elif isinstance(result, MessageIgnored):
        assert result.reason
    else:
        assert isinstance(result, CareTransitionEvent)
    assert time.perf_counter() - started < QUICK


@given(st.text(max_size=3000))
def test_any_text_is_decoded_or_rejected(text: str) -> None:
    decode_or_reject(text)


@given(st.binary(max_size=3000))
def test_any_bytes_are_decoded_or_rejected(data: bytes) -> None:
    decode_or_reject(data.decode("utf-8", errors="replace"))
    decode_or_reject(data.decode("latin-1"))


@given(st.lists(st.sampled_from(ER7_PIECES) | st.text(max_size=5), max_size=80).map("".join))
def test_er7_shaped_noise_is_decoded_or_rejected(text: str) -> None:
    decode_or_reject(text)
    decode_or_reject("MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\r" + text)


@st.composite
def mutated_golden(draw: st.DrawFn) -> str:
    """A golden fixture with characters replaced, inserted, deleted or segments duplicated."""
    text = draw(st.sampled_from(GOLDEN))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(ER7_PIECES) | st.text(min_size=1, max_size=3))
        operation = draw(st.sampled_from(["replace", "insert", "delete", "duplicate"]))
        if operation == "replace":
            text = text[:position] + piece + text[position + len(piece) :]
        elif operation == "insert":
            text = text[:position] + piece + text[position:]
        elif operation == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)) :]
        else:
            text = text[:position] + text[position : position + 200] + text[position:]
    return text


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_golden())
def test_mutated_golden_messages_are_decoded_or_rejected(text: str) -> None:
    decode_or_reject(text)


@given(st.text(max_size=2000) | mutated_golden())
def test_any_text_gets_an_ack_that_echoes_what_could_be_read(text: str) -> None:
    # Given any input, and whatever of its header could be read
    header = peek_header(text)
    # When the bridge answers it with a rejection
    ack = build_ack(header, "AR", "MSH: the message cannot be read", "MSH")
    # Then the ACK itself is readable and echoes MSH-10
    code, control_id, reason = parse_ack(ack)
    assert code == "AR"
    assert control_id == (header.control_id if header is not None else "")
    assert reason == "MSH: the message cannot be read"


@given(st.text(max_size=2000) | mutated_golden())
def test_parse_and_split_only_ever_reject(text: str) -> None:
    for action in (parse_er7, split_batch):
        result = outcome(action, text)
        assert not isinstance(result, MessageRejected) or result.location


# --- large and pathological inputs -----------------------------------------------------------

HEAD = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\r"
PID = "PID|1||191212121212^^^^NNSWE\r"
BIG = MAX_MESSAGE_SIZE - 200


@pytest.mark.parametrize(
    "text",
    [
        HEAD + PID + "OBX|1|TX|care-needs-assessment||" + "\\" * BIG,
        HEAD + PID + "OBX|1|TX|care-needs-assessment||" + "\\X" * (BIG // 2),
        HEAD + PID + "OBX|1|TX|care-needs-assessment||" + "\\F\\" * (BIG // 3),
        HEAD + "PID|1||" + "~" * BIG,
        HEAD + "PID|1||" + "^" * BIG,
        HEAD + "PID|1||" + "&" * BIG,
        HEAD + PID + "ZZZ|\r" * (BIG // 5),
        HEAD + PID + "\r" * BIG,
        "\n" + " " * BIG + "x",
        "MSH" * (BIG // 3),
        "MSH|^~\\&|" + "~" * BIG,
        "MSH|^~\\&|" + "\\" * BIG,
        HEAD + PID + "OBX|1|TX|housing-situation||x\r" * (BIG // 40),
    ],
)
def test_a_message_at_the_size_limit_is_handled_quickly(text: str) -> None:
    started = time.perf_counter()
    decode_or_reject(text)
    peek_header(text)
    assert time.perf_counter() - started < 2 * QUICK


def test_a_message_over_the_size_limit_is_rejected_at_once() -> None:
    text = HEAD + PID + "OBX|1|TX|x||" + "a" * MAX_MESSAGE_SIZE
    started = time.perf_counter()
    with pytest.raises(MessageRejected) as rejected:
        decode_hl7(text)
    assert rejected.value.code == "too-long"
    assert time.perf_counter() - started < QUICK
