"""Run one bridge process: HTTP, MLLP and (with a broker) AMQP entrypoints around one Bridge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson

from bridge.bootstrap import Bridge
from bridge.config import Settings
from bridge.domain.identifiers import mask_in_text
from bridge.entrypoints.amqp import AmqpInbound, AmqpReply, InboundAmqpMessage
from bridge.entrypoints.amqp import Outcome as AmqpOutcome
from bridge.entrypoints.audit_witness import start_audit_witness
from bridge.entrypoints.fd_guard import LISTEN_BACKLOG, connection_caps, install_accept_guard
from bridge.entrypoints.http_auth import refused_sender
from bridge.entrypoints.inbound_security import check_inbound_security, inbound_security
from bridge.entrypoints.listeners import http_listeners, serve
from bridge.entrypoints.listeners import listen_socket as listen_socket  # tests import it here
from bridge.entrypoints.mllp import MllpServer, peer_certificate
from bridge.entrypoints.ops.security import require_session_secret
from bridge.entrypoints.replies import fhir_answer, hl7_reply, unavailable_reply
from bridge.entrypoints.routing_reload import reloading
from bridge.entrypoints.sender_checks import amqp_sender, mllp_tls_context, unnamed_certificate
from bridge.entrypoints.startup import StartupError, dependency_failure, port_failure
from bridge.entrypoints.tls import certificate_identity
from bridge.logging_setup import correlation_id
from bridge.service.delivery.accept import AcceptStatus, Inbound
from bridge.service.delivery.outbound import FHIR_JSON, HL7_V2

log = logging.getLogger(__name__)


def mllp_handler(
    bridge: Bridge, authenticated: bool = False
) -> Callable[[bytes], Awaitable[bytes]]:
    """``authenticated``: the listener demands client certificates; each message carries the
    sender its connection's certificate names."""
    field = bridge.settings.tls_client_identity

    async def handle(raw: bytes) -> bytes:
        correlation_id.set(str(uuid.uuid4()))
        sender = certificate_identity(peer_certificate.get(), field) if authenticated else None
        if authenticated and sender is None:
            result = unnamed_certificate(field)
        else:
            inbound = Inbound(raw, HL7_V2, "mllp", correlation_id.get(), sender=sender)
            result = await bridge.accept(inbound)
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


def amqp_accept(
    bridge: Bridge, authenticated: bool = False
) -> Callable[[InboundAmqpMessage], Awaitable[AmqpReply]]:
    """``authenticated``: each message carries the sender its ``user_id`` names (RabbitMQ
    refuses a user_id other than the publishing connection's user)."""

    async def accept(message: InboundAmqpMessage) -> AmqpReply:
        cid = message.correlation_id or message.message_id
        correlation_id.set(cid[:64])
        sender = amqp_sender(message.user_id) if authenticated else None
        inbound = Inbound(
            message.body,
            message.content_type,
            "amqp",
            cid[:64],
            transport_id=message.message_id,
            sender=sender,
        )
        result = await bridge.accept(inbound)
        if message.content_type == HL7_V2:
            # The reply_to queue always gets the answer (an empty one would tell nothing).
            body = hl7_reply(result, message.body, bridge.ack_context).body
            content_type = HL7_V2
        else:
            _, answer = fhir_answer(result, message.body, bridge.settings.public_base_url)
            body, content_type = orjson.dumps(answer), FHIR_JSON
        reason = None if result.error is None else mask_in_text(str(result.error))
        outcome = "refused" if refused_sender(result) else _AMQP_OUTCOME[result.status]
        return AmqpReply(
            ack_body=body,
            ack_content_type=content_type,
            outcome=outcome,
            reason=reason,
        )

    return accept


@dataclass(frozen=True)
class RunningBridge:
    bridge: Bridge
    http_port: int
    mllp_port: int
    ops_port: int | None = None
    """Set when operations listen apart from ingestion (BRIDGE_OPS_PORT)."""

    @property
    def base_url(self) -> str:
        """The ingestion listener (and operations too, on one port)."""
        settings = self.bridge.settings
        scheme = "https" if settings.tls_cert_file and settings.http_tls else "http"
        return f"{scheme}://{settings.http_host}:{self.http_port}"

    @property
    def ops_url(self) -> str:
        settings = self.bridge.settings
        if self.ops_port is None:
            return self.base_url
        scheme = "https" if settings.tls_cert_file and settings.http_tls else "http"
        return f"{scheme}://{settings.ops_host}:{self.ops_port}"


@contextlib.asynccontextmanager
async def running_bridge(
    settings: Settings, *, bridge: Bridge | None = None
) -> AsyncIterator[RunningBridge]:
    """Start every entrypoint around one Bridge in this event loop; stop them all on exit."""
    bridge = bridge or Bridge(settings)
    require_session_secret(settings)  # before any connection: one line naming the setting
    security = inbound_security(settings, bridge.routing)
    check_inbound_security(settings, security)
    try:
        listeners = http_listeners(bridge, security)
        mllp_tls = mllp_tls_context(settings, security)
    except OSError as error:  # ssl.SSLError included: a PEM file that does not parse
        raise StartupError(
            f"TLS certificate, key or CA bundle unusable ({error}); check BRIDGE_TLS_CERT_FILE, "
            "BRIDGE_TLS_KEY_FILE and BRIDGE_TLS_CA_FILE"
        ) from error
    async with contextlib.AsyncExitStack() as stack:
        await _start(bridge)
        stack.push_async_callback(bridge.stop)
        install_accept_guard(asyncio.get_running_loop())
        caps = connection_caps(settings.mllp_max_connections, settings.http_max_connections)
        mllp = MllpServer(
            mllp_handler(bridge, security.mllp_client_certs),
            settings.mllp_host,
            settings.mllp_port,
            max_message_bytes=settings.max_message_bytes,
            on_handler_error=mllp_error_reply_for(bridge),
            max_connections=caps.mllp,
            max_connections_per_peer=settings.mllp_max_connections_per_peer,
            frame_timeout=settings.mllp_frame_timeout_seconds,
            idle_timeout=settings.mllp_idle_timeout_seconds,
            backlog=LISTEN_BACKLOG,
            tls=mllp_tls,
        )
        try:
            await mllp.start()
        except OSError as error:
            where = (settings.mllp_host, settings.mllp_port)
            raise port_failure(error, "MLLP", *where, "BRIDGE_MLLP_PORT") from error
        stack.push_async_callback(mllp.close)
        await start_audit_witness(bridge, stack)
        if settings.broker_url and settings.amqp_inbound:
            inbound = AmqpInbound(
                settings.broker_url,
                amqp_accept(bridge, security.amqp_user_ids),
                exchange=settings.inbound_exchange,
                queue=settings.inbound_queue,
                require_user_id=security.amqp_user_ids,
            )
            await inbound.start()
            stack.push_async_callback(inbound.close)
        ports = [await serve(listener, stack, settings, caps.http) for listener in listeners]
        http_port, ops_port = ports[0], (ports[1] if len(ports) > 1 else None)
        log.info(
            "bridge listening: http %s:%d, ops %s, mllp %s:%d%s, broker %s",
            settings.http_host,
            http_port,
            f"{settings.ops_host}:{ops_port}" if ops_port else "on the http port",
            settings.mllp_host,
            mllp.port,
            " (TLS)" if security.mllp_tls else "",
            bridge.broker.name,
        )
        yield RunningBridge(bridge, http_port, mllp.port, ops_port)


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


async def run_bridge(settings: Settings) -> None:
    """``bridge serve``: run until interrupted; SIGHUP reloads the routing file."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_bridge(settings) as running, reloading(running.bridge):
        await stop.wait()
    log.info("bridge stopped")
