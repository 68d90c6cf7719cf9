"""Run one bridge process: HTTP, MLLP and (with a broker) AMQP entrypoints around one Bridge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import orjson
import uvicorn

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.entrypoints.amqp import AmqpInbound, AmqpReply, InboundAmqpMessage
from bridge.entrypoints.amqp import Outcome as AmqpOutcome
from bridge.entrypoints.http import create_app
from bridge.entrypoints.mllp import MllpServer
from bridge.entrypoints.ops.security import require_session_secret
from bridge.entrypoints.replies import fhir_answer, hl7_reply, unavailable_reply
from bridge.entrypoints.startup import dependency_failure, port_failure
from bridge.logging_setup import correlation_id
from bridge.service.delivery.accept import AcceptStatus, Inbound
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2

log = logging.getLogger(__name__)


def mllp_handler(bridge: Bridge) -> Callable[[bytes], Awaitable[bytes]]:
    async def handle(raw: bytes) -> bytes:
        correlation_id.set(str(uuid.uuid4()))
        result = await bridge.accept(Inbound(raw, HL7_V2, "mllp", correlation_id.get()))
        reply = hl7_reply(result, raw, bridge.ack_context)
        return reply.body if reply.send else b""

    return handle


def mllp_error_reply_for(bridge: Bridge) -> Callable[[bytes, BaseException], bytes]:
    def reply(raw: bytes, error: BaseException) -> bytes:
        """A handler failure the bridge did not foresee: not committed, so AR (resend later)."""
        log.error("MLLP handler failed: %s", type(error).__name__)
        return unavailable_reply(raw, bridge.ack_context)

    return reply


_AMQP_OUTCOME: dict[AcceptStatus, AmqpOutcome] = {
    AcceptStatus.ACCEPTED: "accepted",
    AcceptStatus.IGNORED: "accepted",
    AcceptStatus.DUPLICATE: "duplicate",
    AcceptStatus.REJECTED: "rejected",
    AcceptStatus.UNAVAILABLE: "unavailable",
}


def amqp_accept(bridge: Bridge) -> Callable[[InboundAmqpMessage], Awaitable[AmqpReply]]:
    async def accept(message: InboundAmqpMessage) -> AmqpReply:
        cid = message.correlation_id or message.message_id
        correlation_id.set(cid[:64])
        inbound = Inbound(
            message.body, message.content_type, "amqp", cid[:64], transport_id=message.message_id
        )
        result = await bridge.accept(inbound)
        if message.content_type == HL7_V2:
            # The reply_to queue always gets the answer (an empty one would tell nothing).
            body = hl7_reply(result, message.body, bridge.ack_context).body
            content_type = HL7_V2
        else:
            _, answer = fhir_answer(result, message.body, bridge.settings.public_base_url)
            body, content_type = orjson.dumps(answer), FHIR_JSON
        return AmqpReply(
            ack_body=body, ack_content_type=content_type, outcome=_AMQP_OUTCOME[result.status]
        )

    return accept


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the program around it decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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


@dataclass(frozen=True)
class RunningBridge:
    bridge: Bridge
    http_port: int
    mllp_port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.bridge.settings.http_host}:{self.http_port}"


@contextlib.asynccontextmanager
async def running_bridge(
    settings: Settings, *, bridge: Bridge | None = None
) -> AsyncIterator[RunningBridge]:
    """Start every entrypoint around one Bridge in this event loop; stop them all on exit."""
    bridge = bridge or Bridge(settings)
    require_session_secret(settings)  # before any connection: one line naming the setting
    async with contextlib.AsyncExitStack() as stack:
        await _start(bridge)
        stack.push_async_callback(bridge.stop)
        mllp = MllpServer(
            mllp_handler(bridge),
            settings.mllp_host,
            settings.mllp_port,
            max_message_bytes=settings.max_message_bytes,
            on_handler_error=mllp_error_reply_for(bridge),
        )
        try:
            await mllp.start()
        except OSError as error:
            where = (settings.mllp_host, settings.mllp_port)
            raise port_failure(error, "MLLP", *where, "BRIDGE_MLLP_PORT") from error
        stack.push_async_callback(mllp.close)
        if settings.broker_url and settings.amqp_inbound:
            inbound = AmqpInbound(
                settings.broker_url,
                amqp_accept(bridge),
                exchange=settings.inbound_exchange,
                queue=settings.inbound_queue,
            )
            await inbound.start()
            stack.push_async_callback(inbound.close)
        try:
            sock = listen_socket(settings.http_host, settings.http_port)
        except OSError as error:
            where = (settings.http_host, settings.http_port)
            raise port_failure(error, "HTTP", *where, "BRIDGE_HTTP_PORT") from error
        config = uvicorn.Config(
            create_app(bridge), log_config=None, access_log=False, lifespan="off"
        )
        server = _EmbeddedServer(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        stack.push_async_callback(_stop_server, server, serving)
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("the bridge's HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        http_port = sock.getsockname()[1]
        log.info(
            "bridge listening: http %s:%d, mllp %s:%d, broker %s",
            settings.http_host,
            http_port,
            settings.mllp_host,
            mllp.port,
            bridge.broker.name,
        )
        yield RunningBridge(bridge, http_port, mllp.port)


async def _start(bridge: Bridge) -> None:
    """Start the bridge; an unreachable database or broker becomes a one-line StartupError."""
    try:
        await bridge.start()
    except Exception as error:
        settings = bridge.settings
        failure = dependency_failure(
            error, database_url=settings.database_url, broker_url=settings.broker_url
        )
        if failure is None:
            raise
        with contextlib.suppress(Exception):
            await bridge.stop()
        raise failure from error


async def _stop_server(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    await serving


async def run_bridge(settings: Settings) -> None:
    """``bridge serve``: run until interrupted."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_bridge(settings):
        await stop.wait()
    log.info("bridge stopped")
