"""MllpServer over real sockets: framing edge cases, errors, limits, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridge.entrypoints.mllp import FrameDecoder, MllpServer, frame

DEADLINE = 5.0
PERSONNUMMER = b"191212121212"
MSG = b"MSH|^~\\&|TAKECARE|SU|BRIDGE|X|20250101||ADT^A01|MSG1|P|2.5\rPID|||" + PERSONNUMMER + b"\r"


async def echo(raw: bytes) -> bytes:
    return b"ACK|" + raw


@asynccontextmanager
async def running(
    handler: Callable[[bytes], Awaitable[bytes]] = echo, **options: Any
) -> AsyncIterator[MllpServer]:
    server = MllpServer(handler, port=0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close(grace=1.0)


class Peer:
    """A raw MLLP sender: writes whatever bytes a test wants, reads framed replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(1 << 22)
        self.received: list[bytes] = []

    @classmethod
    async def connect(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def replies(self, count: int) -> list[bytes]:
        async with asyncio.timeout(DEADLINE):
            while len(self.received) < count:
                data = await self.reader.read(65_536)
                assert data, f"connection closed after {len(self.received)} replies"
                self.received += self.decoder.feed(data)
        taken, self.received = self.received[:count], self.received[count:]
        return taken

    async def closed_by_server(self) -> bool:
        """Read until EOF (within the deadline); True if no further reply came first."""
        async with asyncio.timeout(DEADLINE):
            while data := await self.reader.read(65_536):
                self.received += self.decoder.feed(data)
        return not self.received

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


Connect = Callable[[int], Awaitable[Peer]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Opens raw peers and closes every one of them after the test."""
    opened: list[Peer] = []

    async def open_peer(port: int) -> Peer:
        opened.append(await Peer.connect(port))
        return opened[-1]

    yield open_peer
    for peer in opened:
        await peer.close()


async def test_port_zero_binds_a_free_port() -> None:
    async with running() as server:
        assert server.port > 0


async def test_pipelined_messages_in_one_write_are_answered_in_order(connect: Connect) -> None:
    # Given a handler that yields mid-way and notes overlapping calls
    in_flight, overlaps = 0, 0

    async def slow_echo(raw: bytes) -> bytes:
        nonlocal in_flight, overlaps
        in_flight += 1
        overlaps += in_flight > 1
        await asyncio.sleep(0)
        in_flight -= 1
        return b"ACK|" + raw

    async with running(slow_echo) as server:
        peer = await connect(server.port)
        # When ten frames arrive in one TCP write
        await peer.write(b"".join(frame(b"m%d" % i) for i in range(10)))
        # Then ten replies come back in request order, handled one at a time
        assert await peer.replies(10) == [b"ACK|m%d" % i for i in range(10)]
        assert overlaps == 0
        assert server.stats.messages_handled == 10


async def test_message_split_byte_by_byte_is_reassembled(connect: Connect) -> None:
    async with running() as server:
        peer = await connect(server.port)
        peer.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in frame(MSG):
            await peer.write(bytes([byte]))
        assert await peer.replies(1) == [b"ACK|" + MSG]


async def test_junk_before_start_block_is_discarded_and_logged(
    caplog: pytest.LogCaptureFixture, connect: Connect
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    async with running() as server:
        peer = await connect(server.port)
        await peer.write(b"hello?\r\n" + frame(MSG))
        assert await peer.replies(1) == [b"ACK|" + MSG]
        assert server.stats.discarded_bytes == 8
    assert "discarded 8 bytes outside a complete frame" in caplog.text


async def test_end_block_without_carriage_return_is_message_content(connect: Connect) -> None:
    async with running() as server:
        peer = await connect(server.port)
        await peer.write(b"\x0bA\x1cB\x1c\x0d")
        assert await peer.replies(1) == [b"ACK|A\x1cB"]


async def test_handler_gets_the_raw_bytes_undecoded(connect: Connect) -> None:
    latin1 = "PID|||^^^^Åström".encode("latin-1")
    async with running() as server:
        peer = await connect(server.port)
        await peer.write(frame(latin1))
        assert await peer.replies(1) == [b"ACK|" + latin1]


async def test_message_at_the_limit_is_handled(connect: Connect) -> None:
    async with running(max_message_bytes=100) as server:
        peer = await connect(server.port)
        await peer.write(frame(b"x" * 100))
        assert await peer.replies(1) == [b"ACK|" + b"x" * 100]


async def test_oversized_message_closes_the_connection_after_earlier_replies(
    connect: Connect,
) -> None:
    async with running(max_message_bytes=100) as server:
        peer = await connect(server.port)
        # When a good message, an oversized one and another good one arrive together
        await peer.write(frame(b"first") + frame(b"x" * 101) + frame(b"after"))
        # Then the first is answered, then the connection closes; "after" is never handled
        assert await peer.replies(1) == [b"ACK|first"]
        assert await peer.closed_by_server()
        assert server.stats.oversized_messages == 1
        assert server.stats.messages_received == 1
        # And the server still serves others
        other = await connect(server.port)
        await other.write(frame(b"next"))
        assert await other.replies(1) == [b"ACK|next"]


async def test_oversized_stream_without_end_is_cut_off_at_the_limit(connect: Connect) -> None:
    async with running(max_message_bytes=1000) as server:
        peer = await connect(server.port)
        await peer.write(b"\x0b" + b"x" * 5000)
        assert await peer.closed_by_server()
        assert server.stats.oversized_messages == 1


async def test_eof_mid_message_drops_the_partial_message(
    caplog: pytest.LogCaptureFixture, connect: Connect
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    async with running() as server:
        peer = await connect(server.port)
        await peer.write(b"\x0bMSH|half")
        peer.writer.write_eof()
        assert await peer.closed_by_server()
        assert server.stats.messages_received == 0
    assert "ended mid-message; 8 bytes dropped" in caplog.text


async def test_silent_client_is_closed_after_the_idle_timeout(connect: Connect) -> None:
    async with running(idle_timeout=0.1) as server:
        peer = await connect(server.port)
        assert await peer.closed_by_server()
        assert server.stats.idle_timeouts == 1


async def test_handler_error_is_answered_by_on_handler_error_and_connection_lives_on(
    connect: Connect,
) -> None:
    async def picky(raw: bytes) -> bytes:
        if raw == b"bad":
            raise ValueError(raw)
        return b"AA"

    def nack(raw: bytes, exc: BaseException) -> bytes:
        return b"AE|" + type(exc).__name__.encode()

    async with running(picky, on_handler_error=nack) as server:
        peer = await connect(server.port)
        await peer.write(frame(b"bad") + frame(b"good"))
        assert await peer.replies(2) == [b"AE|ValueError", b"AA"]
        assert server.stats.handler_errors == 1
        assert server.stats.messages_handled == 1


async def test_handler_error_without_callback_closes_the_connection(connect: Connect) -> None:
    async def broken(raw: bytes) -> bytes:
        raise RuntimeError("boom")

    async with running(broken) as server:
        peer = await connect(server.port)
        await peer.write(frame(b"one") + frame(b"two"))
        assert await peer.closed_by_server()
        assert server.stats.messages_received == 2
        assert server.stats.handler_errors == 1


async def test_failing_on_handler_error_closes_the_connection(connect: Connect) -> None:
    async def broken(raw: bytes) -> bytes:
        raise RuntimeError("boom")

    def also_broken(raw: bytes, exc: BaseException) -> bytes:
        raise KeyError("MSH-10")

    async with running(broken, on_handler_error=also_broken) as server:
        peer = await connect(server.port)
        await peer.write(frame(b"one"))
        assert await peer.closed_by_server()


async def test_handler_timeout_counts_as_a_handler_error(connect: Connect) -> None:
    never = asyncio.Event()

    async def stuck_on_slow(raw: bytes) -> bytes:
        if raw == b"slow":
            await never.wait()
        return b"AA"

    def nack(raw: bytes, exc: BaseException) -> bytes:
        return b"AE|" + type(exc).__name__.encode()

    async with running(stuck_on_slow, handler_timeout=0.1, on_handler_error=nack) as server:
        peer = await connect(server.port)
        await peer.write(frame(b"slow") + frame(b"fast"))
        assert await peer.replies(2) == [b"AE|TimeoutError", b"AA"]


async def test_fifty_concurrent_clients_each_get_their_own_replies(connect: Connect) -> None:
    async def one_client(server: MllpServer, client: int) -> None:
        peer = await connect(server.port)
        for n in range(20):
            body = b"MSH|%d|%d" % (client, n)
            await peer.write(frame(body))
            assert await peer.replies(1) == [b"ACK|" + body]
        await peer.close()

    async with running() as server:
        await asyncio.gather(*(one_client(server, c) for c in range(50)))
        assert server.stats.messages_handled == 1000
        assert server.stats.connections_total == 50


async def test_fifty_concurrent_pipelining_clients_keep_their_order(connect: Connect) -> None:
    async def one_client(server: MllpServer, client: int) -> None:
        peer = await connect(server.port)
        bodies = [b"MSH|%d|%d" % (client, n) for n in range(20)]
        await peer.write(b"".join(frame(b) for b in bodies))
        assert await peer.replies(20) == [b"ACK|" + b for b in bodies]
        await peer.close()

    async with running() as server:
        await asyncio.gather(*(one_client(server, c) for c in range(50)))
        assert server.stats.messages_handled == 1000


async def test_close_lets_the_message_in_flight_finish_and_refuses_new_work(
    connect: Connect,
) -> None:
    # Given a message inside the handler and an idle second connection
    entered, release = asyncio.Event(), asyncio.Event()

    async def held(raw: bytes) -> bytes:
        entered.set()
        await release.wait()
        return b"AA|" + raw

    server = MllpServer(held, port=0)
    await server.start()
    busy, idle = await connect(server.port), await connect(server.port)
    await busy.write(frame(b"in-flight"))
    await asyncio.wait_for(entered.wait(), DEADLINE)
    # When the server closes
    closing = asyncio.create_task(server.close(grace=DEADLINE))
    # Then the idle connection is closed and new connections are refused at once
    assert await idle.closed_by_server()
    with pytest.raises(ConnectionRefusedError):
        await connect(server.port)
    assert not closing.done()
    # And the message in flight still gets its reply before its connection closes
    release.set()
    assert await busy.replies(1) == [b"AA|in-flight"]
    assert await busy.closed_by_server()
    await asyncio.wait_for(closing, DEADLINE)


async def test_close_gives_up_on_a_stuck_handler_after_the_grace_period(connect: Connect) -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(raw: bytes) -> bytes:
        entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return b"never"

    server = MllpServer(stuck, port=0)
    await server.start()
    peer = await connect(server.port)
    await peer.write(frame(b"m"))
    await asyncio.wait_for(entered.wait(), DEADLINE)
    await asyncio.wait_for(server.close(grace=0.1), DEADLINE)
    assert cancelled.is_set()
    assert await peer.closed_by_server()


async def test_logs_carry_sizes_and_peers_never_message_content(
    caplog: pytest.LogCaptureFixture, connect: Connect
) -> None:
    caplog.set_level(logging.DEBUG)

    async def fails_on_pid(raw: bytes) -> bytes:
        if b"PID" in raw:
            raise ValueError(f"bad segment {raw!r}")
        return b"AA"

    async with running(fails_on_pid, max_message_bytes=200, idle_timeout=0.2) as server:
        for data in (
            PERSONNUMMER + frame(MSG),  # junk holding content, then a failing message
            frame(MSG * 5),  # oversized
            b"\x0b" + MSG,  # cut off mid-message
        ):
            peer = await connect(server.port)
            await peer.write(data)
            peer.writer.write_eof()
            await peer.closed_by_server()
    assert caplog.records
    assert PERSONNUMMER.decode() not in caplog.text
    assert "PID" not in caplog.text
