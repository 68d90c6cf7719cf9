"""Running the simulator with uvicorn inside any asyncio program, beside other servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from treserva_sim.app import create_app
from treserva_sim.bridge_link import BridgeLink
from treserva_sim.reception import Reception
from treserva_sim.settings import TreservaSettings


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    """Bind here, not inside uvicorn, so a busy port raises OSError instead of SystemExit.

    The protocol must be given as IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted
    connections only then, and without it every answer waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: FastAPI, handle_signals: bool) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    return uvicorn.Server(config) if handle_signals else _EmbeddedServer(config)


async def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    settings: TreservaSettings | None = None,
    *,
    handle_signals: bool = True,
) -> None:
    """Serve the simulator until cancelled, or until Ctrl-C when ``handle_signals``.

    Pass ``handle_signals=False`` when the embedding program handles signals itself.
    """
    sock = _listen(host, port)
    await _server(create_app(settings), handle_signals).serve(sockets=[sock])


@dataclass(frozen=True)
class RunningTreserva:
    """A simulator started by :func:`running`: where it listens and its live state."""

    base_url: str
    app: FastAPI

    @property
    def process_message_url(self) -> str:
        return f"{self.base_url}/fhir/$process-message"

    @property
    def reception(self) -> Reception:
        reception: Reception = self.app.state.reception
        return reception

    @property
    def bridge_link(self) -> BridgeLink:
        """Where receipts and enrolments go (``point_at`` another bridge while running)."""
        link: BridgeLink = self.app.state.link
        return link


@contextlib.asynccontextmanager
async def running(
    settings: TreservaSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningTreserva]:
    """Start the simulator in this event loop (port 0: any free port); stop it on exit."""
    sock = _listen(host, port)
    bound_port = sock.getsockname()[1]
    app = create_app(settings)
    server = _server(app, handle_signals=False)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the Treserva simulator stopped while starting")
            await asyncio.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        yield RunningTreserva(f"http://{url_host}:{bound_port}", app)
    finally:
        server.should_exit = True
        await task
