"""The bridge's HTTP listeners: ingestion and operations, each on its own port when
``BRIDGE_OPS_PORT`` is set (production), or one port for both (the embedded demo's default).

Ingestion speaks TLS with client certificates when configured and authenticates every request
(:mod:`bridge.entrypoints.http_auth`); operations keep their own sign-in and are never reachable
through the ingestion port once split off.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.entrypoints.fd_guard import LISTEN_BACKLOG, widen_kernel_backlog
from bridge.entrypoints.http import create_app
from bridge.entrypoints.http_auth import HttpSenders
from bridge.entrypoints.http_limits import BodyLimits, guarded_h11_protocol
from bridge.entrypoints.inbound_security import InboundSecurity
from bridge.entrypoints.startup import port_failure
from bridge.entrypoints.tls import PeerCertificates, http_protocol, server_context


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the program around it decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Listener:
    """One HTTP application to serve: where, with which TLS, under which setting names."""

    app: FastAPI
    host: str
    port: int
    what: str
    variable: str
    tls: ssl.SSLContext | None = None
    certificates: PeerCertificates | None = None


def http_listeners(bridge: Bridge, security: InboundSecurity) -> list[Listener]:
    """Ingestion (with ops on the same port unless BRIDGE_OPS_PORT is set) and ops."""
    settings = bridge.settings
    certificates = PeerCertificates()
    senders = HttpSenders(
        settings,
        lambda: bridge.routing,
        certificates,
        required=security.http_authenticated,
    )
    tls = (
        server_context(settings, client_certs=security.http_client_certs)
        if security.http_tls
        else None
    )
    split = settings.ops_port is not None
    ingestion = Listener(
        create_app(bridge, operations=not split, senders=senders),
        settings.http_host,
        settings.http_port,
        "HTTP",
        "BRIDGE_HTTP_PORT",
        tls,
        certificates,
    )
    if settings.ops_port is None:
        return [ingestion]
    ops_tls = server_context(settings, client_certs=ssl.CERT_NONE) if security.http_tls else None
    ops = Listener(
        create_app(bridge, ingestion=False),
        settings.ops_host,
        settings.ops_port,
        "ops HTTP",
        "BRIDGE_OPS_PORT",
        ops_tls,
    )
    return [ingestion, ops]


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind here so a busy port fails loudly and port 0 works; IPPROTO_TCP makes asyncio set
    TCP_NODELAY on accepted connections (without it each answer waits ~40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    listener: Listener,
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    max_connections: int,
) -> int:
    """Start ``listener`` (stopped when ``stack`` closes) with the body, header and connection
    limits of :mod:`bridge.entrypoints.http_limits`; the port it listens on."""
    try:
        sock = listen_socket(listener.host, listener.port)
    except OSError as error:
        where = (listener.host, listener.port)
        raise port_failure(error, listener.what, *where, listener.variable) from error
    app = BodyLimits(
        listener.app,
        limit=settings.max_message_bytes,
        body_timeout=settings.http_body_timeout_seconds,
    )
    protocol = guarded_h11_protocol(max_connections, settings.http_header_timeout_seconds)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=protocol,
        backlog=LISTEN_BACKLOG,
    )
    if listener.tls is not None and listener.certificates is not None:
        config.http = http_protocol(listener.certificates, protocol)
    config.load()
    config.ssl = listener.tls
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stack.push_async_callback(_stop_server, server, serving)
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError(f"the bridge's {listener.what} server stopped while starting")
        await asyncio.sleep(0.01)
    widen_kernel_backlog(sock)
    port: int = sock.getsockname()[1]
    return port


async def _stop_server(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    await serving
