"""FrameDecoder: MLLP framing as a pure function of the bytes fed in."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.entrypoints.mllp import FrameDecoder, frame

SB, FS, CR = b"\x0b", b"\x1c", b"\x0d"
MSG = b"MSH|^~\\&|TAKECARE|SU|BRIDGE|X|20250101||ADT^A01|MSG1|P|2.5\rPID|||191212121212\r"


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[bytes]:
    return [message for chunk in chunks for message in decoder.feed(chunk)]


def test_one_frame_yields_its_message() -> None:
    assert FrameDecoder(1024).feed(frame(MSG)) == [MSG]


def test_pipelined_frames_in_one_chunk_come_out_in_order() -> None:
    messages = [MSG + str(i).encode() for i in range(5)]
    data = b"".join(frame(m) for m in messages)
    assert FrameDecoder(1024).feed(data) == messages


def test_byte_by_byte_yields_the_same_messages() -> None:
    data = frame(MSG) + frame(b"second")
    decoder = FrameDecoder(1024)
    assert feed_all(decoder, [data[i : i + 1] for i in range(len(data))]) == [MSG, b"second"]
    assert not decoder.in_frame
    assert decoder.buffered == 0


def test_junk_before_start_block_is_discarded_and_counted() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(b"GET / HTTP/1.1\r\n" + frame(MSG)) == [MSG]
    assert decoder.discarded_bytes == 16


def test_end_block_without_carriage_return_is_content() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(SB + b"A" + FS + b"B" + FS + CR) == [b"A" + FS + b"B"]


def test_end_block_at_chunk_boundary_waits_for_the_next_byte() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(SB + b"A" + FS) == []
    assert decoder.feed(CR) == [b"A"]


def test_start_block_inside_a_frame_restarts_it() -> None:
    decoder = FrameDecoder(1024)
    assert decoder.feed(SB + b"broken" + SB + b"whole" + FS + CR) == [b"whole"]
    assert decoder.discarded_bytes == len(SB + b"broken")


def test_message_at_the_cap_passes() -> None:
    assert FrameDecoder(10).feed(frame(b"x" * 10)) == [b"x" * 10]


def test_message_over_the_cap_overflows_and_nothing_after_it_comes_out() -> None:
    decoder = FrameDecoder(10)
    assert decoder.feed(frame(b"ok") + frame(b"x" * 11) + frame(b"late")) == [b"ok"]
    assert decoder.overflowed
    assert decoder.feed(frame(b"later")) == []
    assert decoder.buffered == 0


def test_unfinished_message_is_reported_as_in_frame() -> None:
    decoder = FrameDecoder(1024)
    decoder.feed(SB + b"half")
    assert decoder.in_frame
    assert decoder.buffered == 4


_SPECIAL_HEAVY = st.binary(max_size=40) | st.lists(
    st.sampled_from([SB, FS, CR, b"x", b"MSH|"]), max_size=40
).map(b"".join)


@settings(max_examples=500)
@given(chunks=st.lists(_SPECIAL_HEAVY, max_size=30), cap=st.integers(0, 64))
def test_any_bytes_never_raise_nor_exceed_the_cap(chunks: list[bytes], cap: int) -> None:
    decoder = FrameDecoder(cap)
    for chunk in chunks:
        for message in decoder.feed(chunk):
            assert len(message) <= cap
        assert decoder.buffered <= cap


_CONTENT = st.binary(max_size=200).map(lambda b: b.replace(SB, b"").replace(FS, b""))
_JUNK = st.binary(max_size=20).map(lambda b: b.replace(SB, b""))


@settings(max_examples=300)
@given(
    messages=st.lists(_CONTENT, max_size=10),
    junk=_JUNK,
    cuts=st.lists(st.integers(0, 3000), max_size=20),
)
def test_framed_messages_survive_any_split(
    messages: list[bytes], junk: bytes, cuts: list[int]
) -> None:
    stream = junk + b"".join(frame(m) for m in messages)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    decoder = FrameDecoder(200)
    assert feed_all(decoder, chunks) == messages
    assert decoder.discarded_bytes == len(junk)
