"""MLLP listener: a generic asyncio server speaking HL7's Minimal Lower Layer Protocol.

A frame is ``0x0B <message> 0x1C 0x0D``. The server hands each message's raw bytes to a handler
and writes the handler's reply back, framed; an empty reply writes nothing (a sender that asked
for no accept acknowledgement). It knows nothing about HL7: decoding and building
ACKs is the handler's job.

Choices worth knowing:

- **Order.** Messages on one connection are handled one at a time, in arrival order, and each
  reply is written before the next message is handled. This keeps per-sender order.
- **Oversized message.** The connection is closed after logging, without a reply. The server
  cannot trust or parse such a message, so it cannot build a meaningful ACK (MSA-2 needs the
  control id); the sender sees "not acknowledged", keeps the message and retries or alerts.
  Messages that arrived before it on the connection are still answered; nothing after it is
  handled, so a later message never overtakes it.
- **Handler failure or timeout.** Logged (exception type only), then the injected
  ``on_handler_error(raw, exc)`` builds the reply (e.g. an AE ACK) and the connection stays
  open. Without that callback, or if it fails too, the connection is closed: never a positive
  answer the handler did not give.
- **Malformed framing.** Bytes outside a frame are discarded and their count logged. A 0x1C not
  followed by 0x0D is message content, not a terminator. A 0x0B inside a frame abandons the
  partial frame (the sender restarted) and starts a new one.
- **Logs** carry peers, sizes and counts, never message content (it holds personnummer).
  Opening, closing and timing out a connection is logged at DEBUG only and counted in
  :class:`MllpStats`: thousands of hostile connections must not become thousands of lines.
- **Resource limits.** At most ``max_connections`` open connections, and at most
  ``max_connections_per_peer`` from one address. When the listener is full, a new connection
  replaces the longest-idle connection that has never delivered a message (an idle or slowloris
  client cannot lock out a real sender); when there is none, or the peer is over its own cap, the
  new connection is closed at once. Refusals are logged once per incident
  (:class:`~bridge.entrypoints.incidents.IncidentLog`).
- **Deadlines.** A frame must complete within ``frame_timeout`` from its first byte (bytes
  trickling in do not extend it); a connection with no frame in progress is closed after
  ``idle_timeout`` since its last message (bytes outside a frame do not extend that either).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from bridge.entrypoints.fd_guard import widen_kernel_backlog
from bridge.entrypoints.incidents import IncidentLog

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
_SPECIAL = re.compile(b"[\x0b\x1c]")
_READ_CHUNK = 65_536
_HANDSHAKE_SECONDS = 30.0

Handler = Callable[[bytes], Awaitable[bytes]]

peer_certificate: ContextVar[dict[str, Any] | None] = ContextVar("peer_certificate", default=None)
"""The verified client certificate of the connection a handler is answering (TLS), else None."""
HandlerErrorReply = Callable[[bytes, BaseException], bytes]


def frame(message: bytes) -> bytes:
    """Wrap one message in the MLLP envelope."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


class FrameDecoder:
    """Turns a byte stream into MLLP messages; pure, no I/O.

    Holds at most ``max_message_bytes`` of one unfinished message. A message growing past that
    puts the decoder in the terminal ``overflowed`` state: it discards everything from then on,
    so the caller can close the stream without anything after the big message being handled.
    """

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self.discarded_bytes = 0
        self.overflowed = False
        self._buffer: bytearray | None = None  # None: between frames
        self._end_pending = False  # last byte seen was 0x1C inside a frame

    @property
    def in_frame(self) -> bool:
        """True while a message has started but not ended."""
        return self._buffer is not None

    @property
    def buffered(self) -> int:
        """Bytes of the unfinished message held in memory."""
        return len(self._buffer or b"")

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the messages it completed, in order, without framing."""
        messages: list[bytes] = []
        pos = 0
        while pos < len(data) and not self.overflowed:
            if self._buffer is None:
                pos = self._seek_start(data, pos)
            else:
                pos = self._consume(data, pos, self._buffer, messages)
        return messages

    def _seek_start(self, data: bytes, pos: int) -> int:
        start = data.find(START_BLOCK, pos)
        if start < 0:
            self.discarded_bytes += len(data) - pos
            return len(data)
        self.discarded_bytes += start - pos
        self._buffer = bytearray()
        return start + 1

    def _consume(self, data: bytes, pos: int, buffer: bytearray, out: list[bytes]) -> int:
        if self._end_pending:
            self._end_pending = False
            if data[pos] == CARRIAGE_RETURN[0]:
                out.append(bytes(buffer))
                self._buffer = None
                return pos + 1
            self._append(buffer, END_BLOCK)
            return pos
        match = _SPECIAL.search(data, pos)
        stop = match.start() if match else len(data)
        self._append(buffer, data[pos:stop])
        if match is None or self.overflowed:
            return stop
        if data[stop] == START_BLOCK[0]:
            self.discarded_bytes += len(buffer) + 1
            buffer.clear()
        else:
            self._end_pending = True
        return stop + 1

    def _append(self, buffer: bytearray, chunk: bytes) -> None:
        if len(buffer) + len(chunk) > self.max_message_bytes:
            self.overflowed = True
            self._buffer = None
            return
        buffer += chunk


@dataclass
class MllpStats:
    """Counters for metrics; plain attributes, updated by the server."""

    connections_open: int = 0
    connections_total: int = 0
    messages_received: int = 0
    messages_handled: int = 0
    handler_errors: int = 0
    oversized_messages: int = 0
    idle_timeouts: int = 0
    frame_timeouts: int = 0
    discarded_bytes: int = 0
    connections_refused: int = 0
    connections_evicted: int = 0


class _Connection:
    def __init__(self, peer: str, host: str, task: asyncio.Task[None], now: float) -> None:
        self.peer = peer
        self.host = host
        self.task = task
        self.busy = False  # inside the handler or writing its reply
        self.messages = 0  # complete messages received on this connection
        self.last_activity = now  # connection start, or the last complete message


class MllpServer:
    """Accepts MLLP connections and answers each message with ``handler``'s reply."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 2575,
        *,
        max_message_bytes: int = 1_048_576,
        idle_timeout: float = 300.0,
        handler_timeout: float = 30.0,
        on_handler_error: HandlerErrorReply | None = None,
        max_connections: int | None = 256,
        max_connections_per_peer: int | None = 64,
        frame_timeout: float = 30.0,
        backlog: int = 32,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = handler
        self._tls = tls
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._idle_timeout = idle_timeout
        self._handler_timeout = handler_timeout
        self._on_handler_error = on_handler_error
        self._max_connections = max_connections
        self._max_per_peer = max_connections_per_peer
        self._frame_timeout = frame_timeout
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._per_host: Counter[str] = Counter()
        self._closing = False
        self.stats = MllpStats()
        self.incidents = IncidentLog(log)

    @property
    def port(self) -> int:
        """The bound port once started (useful with ``port=0``), else the configured one."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("MllpServer already started")
        # The backlog also bounds how many connections asyncio accepts in one go, before any
        # is refused: a small one keeps a flood from taking a burst of descriptors.
        # TLS is started per connection in _serve, so a refused handshake is logged there
        # (asyncio's own server-side TLS drops it without a word).
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, backlog=self._backlog
        )
        for sock in self._server.sockets:
            widen_kernel_backlog(sock)
        log.info("MLLP listening on %s:%d", self._host, self.port)

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting; let messages in a handler finish (up to ``grace`` s), then close.

        Idle connections are closed at once; a message still unanswered after ``grace`` is
        cancelled, and its sender, having no ACK, sends it again later.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            if not conn.busy:
                conn.task.cancel()
        tasks = [conn.task for conn in self._connections]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        log.info("MLLP listener closed")

    async def __aenter__(self) -> MllpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        host = str(peername[0]) if peername else "unknown"
        peer = f"{peername[0]}:{peername[1]}" if peername else "unknown"
        if not self._admit(host):
            writer.transport.abort()
            return
        conn = _Connection(peer, host, task, asyncio.get_running_loop().time())
        self._connections.add(conn)
        self._per_host[host] += 1
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        log.debug("MLLP connection from %s", peer)
        try:
            if self._tls is not None and not await self._handshake(peer, writer):
                return
            await self._converse(conn, reader, writer)
        except (ConnectionError, TimeoutError) as exc:
            log.debug("MLLP connection %s lost: %s", peer, type(exc).__name__)
            self.incidents.note(
                "connection-lost", "MLLP connection %s lost: %s", peer, type(exc).__name__
            )
        except asyncio.CancelledError:
            # Only close() and eviction cancel this task, which asyncio owns and nobody awaits
            # for a result; letting the cancellation escape would make asyncio log it as an error.
            log.debug("MLLP connection %s cancelled (shutdown or evicted)", peer)
        finally:
            self._connections.discard(conn)
            self._per_host[host] -= 1
            if self._per_host[host] <= 0:
                del self._per_host[host]
            self.stats.connections_open -= 1
            writer.close()
            # A refused TLS handshake surfaces again here: already logged.
            with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
            log.debug("MLLP connection from %s closed", peer)

    def _admit(self, host: str) -> bool:
        """Whether a new connection from ``host`` may stay; may evict an unproductive one."""
        if self._closing:
            return False
        if self._max_per_peer is not None and self._per_host[host] >= self._max_per_peer:
            self.stats.connections_refused += 1
            self.incidents.note(
                "peer-cap",
                "MLLP refusing connections from %s: %d open, the most one address may hold "
                "(BRIDGE_MLLP_MAX_CONNECTIONS_PER_PEER)",
                host,
                self._max_per_peer,
            )
            return False
        if self._max_connections is None or len(self._connections) < self._max_connections:
            return True
        victim = self._eviction_candidate()
        if victim is None:
            self.stats.connections_refused += 1
            self.incidents.note(
                "listener-full",
                "MLLP listener full: %d connections open, all busy or delivering messages; "
                "refusing new connections (BRIDGE_MLLP_MAX_CONNECTIONS)",
                self._max_connections,
            )
            return False
        # Counted out at once so that a burst of new connections evicts distinct victims.
        self._connections.discard(victim)
        victim.task.cancel()
        self.stats.connections_evicted += 1
        self.incidents.note(
            "listener-full-evicting",
            "MLLP listener full (%d connections): closing the longest-idle connections that "
            "never delivered a message to make room (BRIDGE_MLLP_MAX_CONNECTIONS)",
            self._max_connections,
        )
        return True

    def _eviction_candidate(self) -> _Connection | None:
        idle = [c for c in self._connections if not c.busy and c.messages == 0]
        return min(idle, key=lambda c: c.last_activity, default=None)

    async def _handshake(self, peer: str, writer: asyncio.StreamWriter) -> bool:
        """TLS with the peer; its verified certificate goes to ``peer_certificate``. False:
        refused (no or an untrusted client certificate, not TLS at all), logged once."""
        assert self._tls is not None
        try:
            async with asyncio.timeout(_HANDSHAKE_SECONDS):
                await writer.start_tls(self._tls)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            log.warning("MLLP TLS handshake with %s refused: %s", peer, reason)
            return False
        ssl_object = writer.get_extra_info("ssl_object")
        peer_certificate.set(ssl_object.getpeercert() if ssl_object is not None else None)
        return True

    async def _converse(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = FrameDecoder(self._max_message_bytes)
        loop = asyncio.get_running_loop()
        frame_started = 0.0
        while not self._closing:
            data = await self._read(conn, reader, decoder, frame_started)
            if data is None:  # a deadline passed; counted and logged at DEBUG by _read
                return
            if not data:
                self._log_end_of_stream(conn, decoder)
                return
            was_in_frame = decoder.in_frame
            messages = self._decode(conn, decoder, data)
            if messages:
                conn.messages += len(messages)
                conn.last_activity = loop.time()
            if decoder.in_frame and (messages or not was_in_frame):
                # A new frame began in this chunk: its deadline runs from now.
                frame_started = loop.time()
                conn.last_activity = frame_started
            for raw in messages:
                if not await self._answer(conn, raw, writer):
                    return
            if decoder.overflowed:
                self.stats.oversized_messages += 1
                log.warning(
                    "MLLP message from %s exceeds %d bytes; closing the connection",
                    conn.peer,
                    self._max_message_bytes,
                )
                return

    async def _read(
        self,
        conn: _Connection,
        reader: asyncio.StreamReader,
        decoder: FrameDecoder,
        frame_started: float,
    ) -> bytes | None:
        in_frame = decoder.in_frame
        if in_frame:
            deadline = frame_started + self._frame_timeout
        else:
            deadline = conn.last_activity + self._idle_timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await reader.read(_READ_CHUNK)
        except TimeoutError:
            if in_frame:
                self.stats.frame_timeouts += 1
                log.debug(
                    "MLLP connection %s: frame not complete within %.1fs; closing",
                    conn.peer,
                    self._frame_timeout,
                )
            else:
                self.stats.idle_timeouts += 1
                log.debug(
                    "MLLP connection %s idle for %.1fs; closing", conn.peer, self._idle_timeout
                )
            return None

    def _decode(self, conn: _Connection, decoder: FrameDecoder, data: bytes) -> list[bytes]:
        before = decoder.discarded_bytes
        messages = decoder.feed(data)
        discarded = decoder.discarded_bytes - before
        if discarded:
            self.stats.discarded_bytes += discarded
            log.warning(
                "MLLP discarded %d bytes outside a complete frame from %s", discarded, conn.peer
            )
        self.stats.messages_received += len(messages)
        return messages

    def _log_end_of_stream(self, conn: _Connection, decoder: FrameDecoder) -> None:
        if decoder.in_frame:
            self.incidents.note(
                "ended-mid-message",
                "MLLP connection %s ended mid-message; %d bytes dropped",
                conn.peer,
                decoder.buffered,
            )

    async def _answer(self, conn: _Connection, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        """Handle one message and write its reply; False means: close the connection."""
        conn.busy = True
        try:
            reply = await self._reply_for(conn, raw)
            if reply is None:
                return False
            if not reply:
                # The handler answers nothing (HL7 enhanced mode, MSH-15 NE/ER/SU not met):
                # write no frame, keep the connection for the next message.
                return not self._closing
            writer.write(frame(reply))
            async with asyncio.timeout(self._idle_timeout):
                await writer.drain()
            return not self._closing
        finally:
            conn.busy = False

    async def _reply_for(self, conn: _Connection, raw: bytes) -> bytes | None:
        try:
            async with asyncio.timeout(self._handler_timeout):
                reply = await self._handler(raw)
        except Exception as exc:
            return self._error_reply(conn, raw, exc)
        self.stats.messages_handled += 1
        return reply

    def _error_reply(self, conn: _Connection, raw: bytes, exc: Exception) -> bytes | None:
        # Only the exception's type is logged: its text may quote the message.
        self.stats.handler_errors += 1
        log.error(
            "MLLP handler failed on a %d-byte message from %s: %s",
            len(raw),
            conn.peer,
            type(exc).__name__,
        )
        if self._on_handler_error is None:
            return None
        try:
            return self._on_handler_error(raw, exc)
        except Exception as reply_exc:
            log.error("MLLP on_handler_error failed: %s", type(reply_exc).__name__)
            return None
