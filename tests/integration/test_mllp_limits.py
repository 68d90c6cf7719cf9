"""MllpServer resource limits over real sockets: caps, eviction, frame and idle deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridge.entrypoints.mllp import MllpServer, frame

MSG = b"MSH|^~\\&|TAKECARE|SU|BRIDGE|X|20250101||ADT^A01|MSG1|P|2.5\r"


async def echo(raw: bytes) -> bytes:
    return b"ACK|" + raw


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[MllpServer]:
    server = MllpServer(echo, port=0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close(grace=1.0)


async def connect(
    port: int, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader, within: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(within):
            return await reader.read(1024) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def settle(server: MllpServer, open_count: int) -> None:
    async with asyncio.timeout(3):
        while server.stats.connections_open != open_count:  # noqa: ASYNC110 - a counter
            await asyncio.sleep(0.01)


async def test_a_peer_over_its_cap_is_refused_and_others_are_not() -> None:
    async with running(max_connections_per_peer=3, max_connections=100) as server:
        held = [await connect(server.port, "127.0.0.2") for _ in range(3)]
        await settle(server, 3)
        reader, _ = await connect(server.port, "127.0.0.2")
        assert await closed_by_server(reader)
        other_reader, other_writer = await connect(server.port, "127.0.0.3")
        other_writer.write(frame(MSG))
        async with asyncio.timeout(3):
            assert (await other_reader.readuntil(b"\x1c\r")).startswith(b"\x0bACK|")
        assert server.stats.connections_refused == 1
        for _, writer in held:
            writer.close()
        other_writer.close()


async def test_a_full_listener_evicts_an_idle_connection_never_a_productive_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "bridge.entrypoints.mllp")
    async with running(max_connections=3) as server:
        sender_reader, sender_writer = await connect(server.port)
        sender_writer.write(frame(MSG))
        async with asyncio.timeout(3):
            await sender_reader.readuntil(b"\x1c\r")
        idle = [await connect(server.port, "127.0.0.2") for _ in range(2)]
        await settle(server, 3)
        # Ten more hostile connections: each evicts an unproductive one, never the sender.
        newcomers = [await connect(server.port, "127.0.0.2") for _ in range(10)]
        await asyncio.sleep(0.2)
        assert server.stats.connections_evicted >= 10
        assert await closed_by_server(idle[0][0])
        sender_writer.write(frame(MSG))
        async with asyncio.timeout(3):
            assert (await sender_reader.readuntil(b"\x1c\r")).startswith(b"\x0bACK|")
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        for _, writer in [*idle, *newcomers]:
            writer.close()
        sender_writer.close()


async def test_a_full_listener_of_busy_senders_refuses_the_newcomer() -> None:
    async with running(max_connections=2) as server:
        senders = [await connect(server.port) for _ in range(2)]
        for reader, writer in senders:
            writer.write(frame(MSG))
            async with asyncio.timeout(3):
                await reader.readuntil(b"\x1c\r")
        reader, _ = await connect(server.port)
        assert await closed_by_server(reader)
        assert server.stats.connections_refused == 1
        for _, writer in senders:
            writer.close()


async def test_a_frame_trickling_in_is_closed_at_its_deadline_not_reset_by_bytes() -> None:
    async with running(frame_timeout=0.6, idle_timeout=30) as server:
        reader, writer = await connect(server.port)
        writer.write(b"\x0bMSH|")
        started = asyncio.get_running_loop().time()
        closed = False
        while asyncio.get_running_loop().time() - started < 3:
            writer.write(b"A")  # a byte every 0.1 s: would keep a per-read timeout alive
            try:
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            if await closed_by_server(reader, within=0.1):
                closed = True
                break
        took = asyncio.get_running_loop().time() - started
        assert closed
        assert 0.5 <= took < 1.5
        assert server.stats.frame_timeouts == 1
        writer.close()


async def test_garbage_outside_a_frame_does_not_extend_the_idle_timeout() -> None:
    async with running(idle_timeout=0.5, frame_timeout=30) as server:
        reader, writer = await connect(server.port)
        started = asyncio.get_running_loop().time()
        closed = False
        while asyncio.get_running_loop().time() - started < 3:
            writer.write(b"x")
            try:
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            if await closed_by_server(reader, within=0.1):
                closed = True
                break
        assert closed
        assert asyncio.get_running_loop().time() - started < 1.5
        assert server.stats.idle_timeouts == 1
        writer.close()


async def test_a_sender_keeps_its_connection_while_messages_flow() -> None:
    async with running(idle_timeout=0.4, frame_timeout=0.4) as server:
        reader, writer = await connect(server.port)
        for _ in range(4):
            await asyncio.sleep(0.25)
            writer.write(frame(MSG))
            async with asyncio.timeout(3):
                assert (await reader.readuntil(b"\x1c\r")).startswith(b"\x0bACK|")
        assert server.stats.idle_timeouts == 0
        writer.close()


async def test_running_out_of_descriptors_pauses_accepting_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "bridge.entrypoints.mllp")
    async with running(max_connections=None, max_connections_per_peer=None) as server:
        sender_reader, sender_writer = await connect(server.port)
        sender_writer.write(frame(MSG))
        async with asyncio.timeout(3):
            await sender_reader.readuntil(b"\x1c\r")
        # Client sockets made before the limit drops: connecting them needs no descriptor,
        # accepting them does.
        clients = [socket.socket() for _ in range(30)]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 5, hard))
        try:
            for client in clients:
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", server.port))
            await asyncio.sleep(0.5)
            # The open connection is still served while accept() fails
            sender_writer.write(frame(MSG))
            async with asyncio.timeout(3):
                assert (await sender_reader.readuntil(b"\x1c\r")).startswith(b"\x0bACK|")
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        # Descriptors back: the waiting connections are taken once the pause is over
        await settle(server, 1 + len(clients))
        lines = [r.getMessage() for r in caplog.records]
        assert len([line for line in lines if "out of file descriptors" in line]) == 1, lines
        # The listener paused (about one try a second), not spinning on a failing accept()
        assert server.incidents.events["accept-failed"] <= 3
        for client in clients:
            client.close()
        sender_writer.close()


async def test_every_connection_is_counted_out_after_a_churn_of_every_kind() -> None:
    """Idle, slow, junk, half-frame, evicted and productive connections, opened and closed in
    a burst: afterwards the server counts none open (no leaked slot to fill the cap)."""
    async with running(max_connections=8, frame_timeout=0.3, idle_timeout=0.5) as server:
        opened = []
        for i in range(40):
            reader, writer = await connect(server.port, f"127.0.0.{2 + i % 3}")
            kind = i % 5
            with contextlib.suppress(OSError):  # already evicted
                if kind == 1:
                    writer.write(b"\x0bMSH|")  # a frame begun, never ended
                elif kind == 2:
                    writer.write(b"junk outside a frame")
                elif kind == 3:
                    writer.write(frame(MSG))  # productive
                elif kind == 4:
                    writer.write(frame(MSG)[:10])
                    writer.write_eof()
            opened.append((reader, writer))
        await asyncio.sleep(0.1)
        for _, writer in opened:
            writer.close()
        await settle(server, 0)
        assert server.stats.connections_total + server.stats.connections_refused == 40
        assert server.stats.connections_evicted > 0
