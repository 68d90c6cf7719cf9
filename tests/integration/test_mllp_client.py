"""MllpClient over real sockets: persistence, reconnect-once, and classified failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridge.connectors.mllp_client import (
    MllpClient,
    MllpConnectionError,
    MllpError,
    MllpProtocolError,
    MllpTimeoutError,
)
from bridge.entrypoints.mllp import MllpServer

DEADLINE = 5.0


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


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll with a deadline (STYLE.md habit 8): the server's side of a close is not observable."""
    async with asyncio.timeout(DEADLINE):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sends_share_one_persistent_connection() -> None:
    async with running() as server, MllpClient("127.0.0.1", server.port) as client:
        for n in range(10):
            assert await client.send(b"m%d" % n) == b"ACK|m%d" % n
        assert server.stats.connections_total == 1


async def test_text_is_encoded_as_utf8_by_default() -> None:
    async with running() as server, MllpClient("127.0.0.1", server.port) as client:
        assert await client.send("PID|||^^^^Åström") == "ACK|PID|||^^^^Åström".encode()


async def test_context_exit_closes_the_connection() -> None:
    async with running() as server:
        async with MllpClient("127.0.0.1", server.port) as client:
            await client.send(b"m")
        await eventually(lambda: server.stats.connections_open == 0)


async def test_connection_refused_is_a_transient_connection_error() -> None:
    async with MllpClient("127.0.0.1", closed_port()) as client:
        with pytest.raises(MllpConnectionError) as caught:
            await client.send(b"m")
    assert caught.value.transient
    assert isinstance(caught.value, ConnectionError)


async def test_no_reply_in_time_is_a_transient_timeout_and_the_next_send_reconnects() -> None:
    never = asyncio.Event()

    async def stalls_on_slow(raw: bytes) -> bytes:
        if raw == b"slow":
            await never.wait()
        return b"AA"

    async with (
        running(stalls_on_slow) as server,
        MllpClient("127.0.0.1", server.port, timeout=0.3) as client,
    ):
        with pytest.raises(MllpTimeoutError) as caught:
            await client.send(b"slow")
        assert caught.value.transient
        assert isinstance(caught.value, TimeoutError)
        assert await client.send(b"fast") == b"AA"
        assert server.stats.connections_total == 2
        never.set()  # let the abandoned handler finish, so the server closes at once


async def test_connection_closed_by_an_idle_server_is_reopened_transparently() -> None:
    async with (
        running(idle_timeout=0.05) as server,
        MllpClient("127.0.0.1", server.port) as client,
    ):
        assert await client.send(b"one") == b"ACK|one"
        await eventually(lambda: server.stats.connections_open == 0)
        assert await client.send(b"two") == b"ACK|two"
        assert server.stats.connections_total == 2


async def test_reconnect_happens_only_once_per_send() -> None:
    # Given a server that drops the connection (no reply) whenever the handler fails
    async def fails_on_boom(raw: bytes) -> bytes:
        if raw == b"boom":
            raise RuntimeError("boom")
        return b"AA"

    async with running(fails_on_boom) as server, MllpClient("127.0.0.1", server.port) as client:
        assert await client.send(b"ok") == b"AA"
        # When a send breaks the reused connection and then the fresh one
        with pytest.raises(MllpConnectionError):
            await client.send(b"boom")
        # Then it was tried exactly twice
        assert server.stats.messages_received == 3


async def test_a_fresh_connection_that_breaks_is_not_retried() -> None:
    async def broken(raw: bytes) -> bytes:
        raise RuntimeError("boom")

    async with running(broken) as server, MllpClient("127.0.0.1", server.port) as client:
        with pytest.raises(MllpConnectionError):
            await client.send(b"m")
        assert server.stats.messages_received == 1


async def test_oversized_reply_is_a_protocol_error() -> None:
    async def huge(raw: bytes) -> bytes:
        return b"x" * 1000

    async with (
        running(huge) as server,
        MllpClient("127.0.0.1", server.port, max_reply_bytes=100) as client,
    ):
        with pytest.raises(MllpProtocolError) as caught:
            await client.send(b"m")
        assert isinstance(caught.value, MllpError)


async def test_concurrent_sends_on_one_client_are_serialised() -> None:
    async with running() as server, MllpClient("127.0.0.1", server.port) as client:
        replies = await asyncio.gather(*(client.send(b"m%d" % n) for n in range(20)))
        assert replies == [b"ACK|m%d" % n for n in range(20)]
        assert server.stats.connections_total == 1


@asynccontextmanager
async def unanswered_port() -> AsyncIterator[int]:
    """A port whose accept queue is full, so a new connection attempt hangs (Linux)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(4):
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.2)
            except TimeoutError:
                yield port
                return
            fillers.append(writer)
        pytest.skip("this OS accepts connections beyond the listen backlog")
    finally:
        for writer in fillers:
            writer.close()
        listener.close()


async def test_connect_not_accepted_in_time_is_a_transient_timeout() -> None:
    async with (
        unanswered_port() as port,
        MllpClient("127.0.0.1", port, connect_timeout=0.1) as client,
    ):
        with pytest.raises(MllpTimeoutError, match="did not accept a connection"):
            await client.send(b"m")
