"""HTTP limits on a real uvicorn server: body size and deadline, header deadline, connection cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from bridge.entrypoints.http_limits import BodyLimits, guarded_h11_protocol
from bridge.entrypoints.runner import listen_socket

LIMIT = 1000


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = str(len(body)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": text})


@contextlib.asynccontextmanager
async def serving(**limits: Any) -> AsyncIterator[int]:
    app = BodyLimits(echo_length, limit=LIMIT, body_timeout=limits.get("body_timeout", 5.0))
    protocol = guarded_h11_protocol(
        limits.get("max_connections", 50), limits.get("header_timeout", 5.0)
    )
    config = uvicorn.Config(app, log_config=None, lifespan="off", http=protocol)
    server = uvicorn.Server(config)
    sock = listen_socket("127.0.0.1", 0)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def status_of(reader: asyncio.StreamReader, within: float = 5.0) -> str:
    async with asyncio.timeout(within):
        line = await reader.readline()
    return line.decode().strip()


async def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n")
        writer.write(b"A" * 100_000)
        started = time.monotonic()
        assert await status_of(reader) == "HTTP/1.1 413 Request Entity Too Large"
        assert time.monotonic() - started < 1
        writer.close()


async def test_a_streamed_body_is_refused_when_it_passes_the_limit() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /fhir/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            writer.write(b"190\r\n" + b"A" * 400 + b"\r\n")  # 1,200 bytes > 1,000
        await writer.drain()
        assert await status_of(reader) == "HTTP/1.1 413 Request Entity Too Large"
        rest = await reader.read()
        assert b"OperationOutcome" in rest and b"too-costly" in rest
        writer.close()


async def test_a_body_within_the_limit_reaches_the_application_whole() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"64\r\n" + b"A" * 100 + b"\r\n" + b"64\r\n" + b"B" * 100 + b"\r\n0\r\n\r\n")
        assert await status_of(reader) == "HTTP/1.1 200 OK"
        assert b"\r\n200\r\n" in await reader.read(1000)
        writer.close()


async def test_a_never_ending_body_gets_408_at_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(body_timeout=0.6) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        started = time.monotonic()

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"1\r\nA\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.1)

        dripping = asyncio.create_task(drip())
        assert await status_of(reader) == "HTTP/1.1 408 Request Timeout"
        took = time.monotonic() - started
        dripping.cancel()
        assert 0.5 <= took < 1.5
        writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_request_headers_trickling_in_are_cut_at_the_header_deadline() -> None:
    async with serving(header_timeout=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 3:
            with contextlib.suppress(ConnectionError):
                writer.write(b"X")
                await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    if await reader.read(100) == b"":
                        closed = True
                        break
        assert closed
        assert time.monotonic() - started < 1.5
        writer.close()


async def test_a_full_listener_evicts_idle_connections_so_a_request_gets_through() -> None:
    async with serving(max_connections=5, header_timeout=30) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert await status_of(reader) == "HTTP/1.1 200 OK"
        closed = 0
        for idle_reader, idle_writer in idle:
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(0.05):
                    if await idle_reader.read(100) == b"":
                        closed += 1
            idle_writer.close()
        assert closed >= 15
        writer.close()
