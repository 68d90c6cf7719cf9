"""TakeCare's receiving side: what the bridge sends back, over HTTP (FHIR messaging, HL7 v2
over HTTP) and MLLP, filed in an inbox shown at ``GET /api/inbox`` and as a page at ``/``.

Start it with :func:`receiving` (an async context manager, for tests and demos) or
:func:`serve_receiver` (until cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from takecare_sim.inbox import Inbox
from takecare_sim.inbox_page import render_inbox
from takecare_sim.mllp_listener import MllpListener
from takecare_sim.orders import read_answer
from takecare_sim.reception import (
    UnreadableMessageError,
    operation_outcome,
    receive_fhir,
    receive_hl7,
)

FHIR_JSON = "application/fhir+json"
HL7_V2 = "application/hl7-v2"


def create_receiver_app(inbox: Inbox) -> FastAPI:
    app = FastAPI(title="TakeCare simulator (receiving)", version="0.1.0")

    @app.post("/fhir/$process-message", tags=["fhir"])
    async def process_message(request: Request) -> JSONResponse:
        endpoint = f"{request.base_url}fhir"
        key = request.headers.get("idempotency-key")
        try:
            answer = receive_fhir(inbox, await request.body(), key, endpoint)
        except UnreadableMessageError as error:
            return JSONResponse(operation_outcome(error), status_code=400, media_type=FHIR_JSON)
        return JSONResponse(answer, media_type=FHIR_JSON)

    @app.post("/hl7v2", tags=["hl7v2"])
    async def hl7v2(request: Request) -> Response:
        text = (await request.body()).decode("utf-8", errors="replace")
        return Response(receive_hl7(inbox, text, "http"), media_type=HL7_V2)

    @app.get("/api/inbox", tags=["api"])
    async def items(limit: int | None = Query(default=None, ge=0)) -> list[dict[str, Any]]:
        return [item.as_json() for item in inbox.items(limit)]

    @app.get("/api/order-answers", tags=["api"])
    async def order_answers() -> list[dict[str, Any]]:
        """Answers to home-care orders this unit sent, newest first (docs/orders.md)."""
        found = (read_answer(item) for item in inbox.items())
        return [answer.as_json() for answer in found if answer is not None]

    @app.delete("/api/inbox", status_code=204, tags=["api"])
    async def clear() -> None:
        inbox.clear()

    @app.get("/", response_class=HTMLResponse, tags=["page"])
    async def page() -> HTMLResponse:
        return HTMLResponse(render_inbox(inbox.items(200), inbox.count()))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn leaving signal handling to the program that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    """Bound here so a busy port raises OSError; IPPROTO_TCP so asyncio sets TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class RunningTakeCare:
    """A receiver started by :func:`receiving`: its addresses and its inbox."""

    base_url: str
    mllp_host: str
    mllp_port: int
    inbox: Inbox

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir"

    @property
    def mllp_address(self) -> str:
        return f"mllp://{self.mllp_host}:{self.mllp_port}"


@contextlib.asynccontextmanager
async def receiving(
    host: str = "127.0.0.1", http_port: int = 0, mllp_port: int = 0
) -> AsyncIterator[RunningTakeCare]:
    """Start the receiver (port 0: any free port) in this event loop; stop it on exit."""
    inbox = Inbox()
    listener = MllpListener(lambda er7: receive_hl7(inbox, er7, "mllp"), host, mllp_port)
    await listener.start()
    sock = _listen(host, http_port)
    config = uvicorn.Config(create_receiver_app(inbox), log_level="warning", lifespan="off")
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the TakeCare receiver stopped while starting")
            await asyncio.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        base_url = f"http://{url_host}:{sock.getsockname()[1]}"
        yield RunningTakeCare(base_url, host, listener.port, inbox)
    finally:
        server.should_exit = True
        await task
        await listener.close()


async def serve_receiver(
    host: str = "127.0.0.1", http_port: int = 8082, mllp_port: int = 2576
) -> None:
    """Run the receiver until cancelled."""
    async with receiving(host, http_port, mllp_port):
        await asyncio.Event().wait()
