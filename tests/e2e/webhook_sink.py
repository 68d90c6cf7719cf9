"""A local webhook receiver for alert tests: keeps every JSON body it is sent, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

from bridge.entrypoints.runner import listen_socket


@dataclass
class WebhookSink:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False  # answer 503 (and keep nothing) while set

    def about(self, key: str) -> list[str]:
        """The statuses (firing / resolved) received for one incident key, in order."""
        return [body["status"] for body in self.received if body["key"] == key]


@contextlib.asynccontextmanager
async def running_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()
    app = FastAPI()

    @app.post("/alerts")
    async def alerts(request: Request) -> Response:
        if sink.failing:
            return Response(status_code=503)
        sink.received.append(await request.json())
        return Response(status_code=204)

    sock = listen_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    sink.url = f"http://127.0.0.1:{sock.getsockname()[1]}/alerts"
    try:
        yield sink
    finally:
        server.should_exit = True
        await task
