"""The TakeCare simulator sending HL7 v2 over HTTP (POST /hl7v2) to a real in-test server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from takecare_sim import send_admissions

Received = list[tuple[str, str]]


def hl7_receiver(received: Received) -> FastAPI:
    app = FastAPI()

    @app.post("/hl7v2")
    async def receive(request: Request) -> Response:
        message = (await request.body()).decode()
        received.append((request.headers["content-type"], message))
        control_id = message.split("\r", 1)[0].split("|")[9]
        ack = (
            f"MSH|^~\\&|BRIDGE|RG|TAKECARE|VISBY_LAS|20300101||ACK|A1|P|2.5\rMSA|AA|{control_id}\r"
        )
        return Response(ack, media_type="application/hl7-v2")

    @app.post("/broken")
    async def broken() -> Response:
        return Response("database down", status_code=503)

    return app


@pytest.fixture
def received() -> Received:
    return []


@pytest.fixture
async def base_url(received: Received) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(hl7_receiver(received), log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task


async def test_admissions_posted_as_er7_come_back_acknowledged(
    base_url: str, received: Received
) -> None:
    notices = await send_admissions(count=5, seed=2, transport="http", http_url=f"{base_url}/hl7v2")
    assert [n.ack_code for n in notices] == ["AA"] * 5
    assert [message.split("|")[9] for _, message in received] == [n.control_id for n in notices]
    assert all(content_type.startswith("application/hl7-v2") for content_type, _ in received)


async def test_default_url_is_hl7v2_on_host_and_port(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    [notice] = await send_admissions(host, int(port), count=1, transport="http")
    assert notice.ack_code == "AA"


async def test_an_answer_without_ack_is_recorded_with_its_status(base_url: str) -> None:
    [notice] = await send_admissions(count=1, transport="http", http_url=f"{base_url}/broken")
    assert notice.ack_code is None
    assert "503" in (notice.error or "")
