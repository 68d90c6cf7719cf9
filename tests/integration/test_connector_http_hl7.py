"""HL7 v2 over HTTP through the HTTP connector, over real sockets: the answer is the ACK.

Receivers: a small in-test HTTP server answering as told, the TakeCare simulator's ``/hl7v2``
and a whole running bridge's ``POST /hl7v2``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bridge.config import Settings
from bridge.connectors.http import HttpConnector
from bridge.connectors.port import OutboundMessage, Outcome
from bridge.domain.hl7.ack import build_ack
from bridge.domain.hl7.header import peek_header
from bridge.domain.routing import Destination, PayloadFormat
from bridge.entrypoints.runner import running_bridge
from bridge.service.delivery.outbound import HL7_V2
from takecare_sim import build_admission, generate_admissions, receiving

ADMISSION = generate_admissions(1, seed=8)[0]
Reply = Callable[[bytes], tuple[int, bytes]]
Scope = dict[str, Any]


def outbound(url: str, control_id: str = "TC0001") -> OutboundMessage:
    destination = Destination(name="hl7-http", address=url, format=PayloadFormat.HL7V2)
    body = build_admission(ADMISSION, control_id)
    return OutboundMessage(destination, HL7_V2, body, "key-1", "corr-1")


def acking(code: str, status: int = 200, control_id: str | None = None) -> Reply:
    def reply(body: bytes) -> tuple[int, bytes]:
        header = peek_header(body.decode())
        ack = build_ack(header, code, text="no" if code != "AA" else "")  # type: ignore[arg-type]
        if control_id is not None and header is not None:
            ack = ack.replace(f"|{header.control_id}", f"|{control_id}")
        return status, ack.encode()

    return reply


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _app(reply: Reply, seen: list[dict[str, str]]) -> Callable[..., Awaitable[None]]:
    async def app(scope: Scope, receive: Callable[[], Awaitable[Scope]], send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        status, answer = reply(body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer})

    return app


@contextlib.asynccontextmanager
async def http_receiver(reply: Reply) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app(reply, seen), log_level="warning", lifespan="off")
    server = _Quiet(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hl7v2", seen
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def connector() -> AsyncIterator[HttpConnector]:
    connector = HttpConnector(timeout=2.0)
    yield connector
    await connector.close()


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (acking("AA"), Outcome.DELIVERED),
        (acking("CA"), Outcome.DELIVERED),
        (acking("AE"), Outcome.PERMANENT),
        (acking("AR"), Outcome.TRANSIENT),
        (acking("AA", control_id="OTHER"), Outcome.TRANSIENT),
        (lambda _: (200, b""), Outcome.TRANSIENT),
        (acking("AE", status=503), Outcome.TRANSIENT),
        (acking("AA", status=400), Outcome.PERMANENT),
    ],
)
async def test_status_then_ack_decide_the_outcome(
    connector: HttpConnector, reply: Reply, outcome: Outcome
) -> None:
    # Given an HTTP receiver answering as told
    async with http_receiver(reply) as (url, seen):
        # When an HL7 v2 message is posted to it
        result = await connector.send(outbound(url))
    # Then the status, and for a 2xx the ACK, classify the delivery
    assert result.outcome is outcome
    assert seen[0]["content-type"] == HL7_V2
    assert seen[0]["idempotency-key"] == "key-1"


async def test_the_url_is_posted_to_as_given(connector: HttpConnector) -> None:
    # HL7 v2 destinations take the address as the URL: no "/$process-message" is added
    async with http_receiver(acking("AA")) as (url, _):
        result = await connector.send(outbound(url))
    assert result.outcome is Outcome.DELIVERED
    assert result.status_code == 200


async def test_delivering_to_the_takecare_simulator(connector: HttpConnector) -> None:
    async with receiving() as takecare:
        result = await connector.send(outbound(f"{takecare.base_url}/hl7v2"))
        items = takecare.inbox.items()
    assert result.outcome is Outcome.DELIVERED
    assert [(i.event_code, i.channel, i.patient_identifier) for i in items] == [
        ("ADT^A01", "http", ADMISSION.patient.identifier)
    ]


async def test_delivering_to_a_running_bridges_hl7_endpoint(
    connector: HttpConnector, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'receiver.db'}",
        http_port=0,
        mllp_port=0,
        treserva_url="http://127.0.0.1:9/fhir",
    )
    async with running_bridge(settings) as receiver:
        result = await connector.send(outbound(f"{receiver.base_url}/hl7v2"))
    assert result.outcome is Outcome.DELIVERED
