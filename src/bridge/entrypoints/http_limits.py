"""HTTP resource limits: body size and read deadline, connection cap, header deadline.

Two parts, both installed by the runner (issue 12):

- :class:`BodyLimits`, a pure ASGI middleware. A request whose ``Content-Length`` is over the
  limit is answered 413 before one byte of its body is read; otherwise the body is read as it
  streams, and refused with 413 the moment it passes the limit, or with 408 when it has not
  finished ``body_timeout`` seconds after the request began. Either answer carries
  ``Connection: close``, so the server closes the connection instead of reading the rest (the
  server reads at most one flow-control window ahead of the application, so memory stays at
  about the limit whatever the client sends). The application then sees the whole body at once.
- :func:`guarded_h11_protocol`, uvicorn's h11 protocol with a connection cap and a deadline for
  request headers. When the listener is full, a new connection replaces the longest-open
  connection that has not yet sent a complete request; without one, the new connection gets a
  503 and is closed. A connection must deliver its request headers within ``header_timeout``
  of being opened (or of its previous response): bytes trickling in do not extend it.
  Refusals and evictions are logged once per incident.
  A response that closes the connection before the request body was read (the 413 and 408
  above) closes it gently: the bridge stops sending (FIN), discards what still arrives for
  ``LINGER_SECONDS``, then closes. Closing at once would make the kernel reset the connection
  while the client is still sending, and the client would see the reset, not the 413.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import h11
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridge.domain.fhir.outcome import operation_outcome
from bridge.entrypoints.incidents import IncidentLog

log = logging.getLogger(__name__)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LINGER_SECONDS = 2.0


class BodyLimits:
    """Refuses bodies over ``limit`` bytes (413) or slower than ``body_timeout`` seconds (408)."""

    def __init__(self, app: ASGIApp, *, limit: int, body_timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.body_timeout = body_timeout
        self.incidents = IncidentLog(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send, 413, "message too large")
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body, complete = await self._read(receive)
        except TimeoutError:
            self.incidents.note(
                "body-timeout",
                "HTTP request body not complete within %.0fs; answered 408 and closed "
                "(BRIDGE_HTTP_BODY_TIMEOUT_SECONDS)",
                self.body_timeout,
            )
            await self._refuse(scope, send, 408, "request body not complete in time")
            return
        if body is None:
            await self._refuse(scope, send, 413, "message too large")
            return
        if not complete:
            return  # the client went away; nobody to answer
        await self.app(scope, _replay(body), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, bool]:
        """The whole body, or (None, True) once it passes the limit, or (b"", False) on
        disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None, True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    async def _refuse(self, scope: Scope, send: Send, status: int, text: str) -> None:
        if str(scope["path"]).startswith("/fhir"):
            code = "too-costly" if status == 413 else "timeout"
            body = orjson.dumps(operation_outcome(text, None, code))
            media = b"application/fhir+json"
        else:
            body, media = text.encode(), b"text/plain; charset=utf-8"
        headers = [
            (b"content-type", media),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, an ASGI app waiting for more only learns of the disconnect.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}  # pragma: no cover - never reached

    return receive


_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 22\r\nconnection: close\r\n\r\ntoo many connections\r\n"
)


def guarded_h11_protocol(
    max_connections: int, header_timeout: float, incidents: IncidentLog | None = None
) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a connection cap and a request-header deadline."""
    incident_log = incidents or IncidentLog(log)

    class GuardedH11Protocol(H11Protocol):
        stats: ClassVar[dict[str, int]] = {"refused": 0, "evicted": 0, "header_timeouts": 0}
        # Connections that have not sent a request yet, oldest first (a dict keeps order).
        fresh: ClassVar[dict[GuardedH11Protocol, None]] = {}

        def connection_made(self, transport: Any) -> None:
            self._lingering = False
            super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
            self._requests = 0
            self._header_timer: asyncio.TimerHandle | None = None
            self._awaited_cycle: object = None
            if len(self.connections) > max_connections and not self._make_room():
                GuardedH11Protocol.stats["refused"] += 1
                incident_log.note(
                    "http-full",
                    "HTTP listener full: %d connections open, all in use; refusing new "
                    "connections with 503 (BRIDGE_HTTP_MAX_CONNECTIONS)",
                    max_connections,
                )
                transport.write(_UNAVAILABLE)
                transport.close()
                return
            GuardedH11Protocol.fresh[self] = None
            self._arm_header_deadline()

        def _make_room(self) -> bool:
            # The oldest first; a connection leaves ``fresh`` with its first request, so this
            # is a pop, not a scan of every connection (thousands a second under a flood).
            fresh = GuardedH11Protocol.fresh
            while fresh:
                victim = next(iter(fresh))
                del fresh[victim]
                eligible = victim is not self and victim._requests == 0
                eligible = eligible and victim.cycle is None and victim in self.connections
                if eligible and not victim.transport.is_closing():
                    break
            else:
                return False
            GuardedH11Protocol.stats["evicted"] += 1
            incident_log.note(
                "http-full-evicting",
                "HTTP listener full (%d connections): closing the longest-open connections "
                "that never sent a request to make room (BRIDGE_HTTP_MAX_CONNECTIONS)",
                max_connections,
            )
            self.connections.discard(victim)
            victim.transport.abort()
            return True

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._awaited_cycle = self.cycle
            self._header_timer = self.loop.call_later(header_timeout, self._header_deadline)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline(self) -> None:
            self._header_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self.cycle is self._awaited_cycle and not self.transport.is_closing():
                GuardedH11Protocol.stats["header_timeouts"] += 1
                log.debug("HTTP request headers not complete within %.1fs", header_timeout)
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                return  # the answer is sent; the rest of the body is discarded unread
            super().data_received(data)

        def linger(self, transport: asyncio.Transport) -> bool:
            """Called for ``close()``: half-close and discard instead, while the client is
            still sending a body nobody reads; True when lingering."""
            if self._lingering:
                return True
            if self.conn.their_state is not h11.SEND_BODY or not transport.can_write_eof():
                return False
            self._lingering = True
            transport.write_eof()
            transport.resume_reading()
            self.loop.call_later(LINGER_SECONDS, transport.close)
            return True

        def handle_events(self) -> None:
            super().handle_events()
            if self._header_timer is not None and self.cycle is not self._awaited_cycle:
                self._requests += 1
                GuardedH11Protocol.fresh.pop(self, None)
                self._disarm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            cycle = self.cycle
            if not self.transport.is_closing() and cycle is not None and cycle.response_complete:
                self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            GuardedH11Protocol.fresh.pop(self, None)
            if hasattr(self, "_header_timer"):
                self._disarm_header_deadline()
            super().connection_lost(exc)

    return GuardedH11Protocol


class _LingeringTransport:
    """The connection's transport, whose ``close()`` asks the protocol to linger first."""

    def __init__(self, transport: asyncio.Transport, protocol: Any) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if not self._protocol.linger(self._transport):
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
