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
- **Cheap until proven.** A flood of idle and slow connections is mostly accepting and
  closing sockets, thousands a second; asyncio's own server spends a task, a transport and a
  stream on each, which took the event loop (and every real sender's ACK) with it. So the server
  accepts on its own, and a new connection stays a bare socket read by one callback until its
  first complete message: refusing, evicting or timing out such a connection is a ``close()``.
  Only then does it become a stream with its own task (with TLS, at its first byte: the
  handshake needs one).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
import ssl
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from bridge.entrypoints.fd_guard import KERNEL_BACKLOG
from bridge.entrypoints.incidents import IncidentLog

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
_SPECIAL = re.compile(b"[\x0b\x1c]")
_READ_CHUNK = 65_536
_HANDSHAKE_SECONDS = 30.0
# accept() failures that mean "out of descriptors or memory": pause the listener, not a flood.
_OUT_OF_RESOURCE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_PAUSE_SECONDS = 1.0

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


class _Pending:
    """A connection that has not yet delivered a complete message: a bare socket."""

    __slots__ = ("decoder", "fd", "host", "peer", "prefix", "served", "sock", "timer")

    def __init__(self, sock: socket.socket, peer: str, host: str, max_message_bytes: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.host = host
        self.decoder = FrameDecoder(max_message_bytes)
        # The bytes of the unfinished frame, from its start block: handed to the stream.
        self.prefix = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.served = False  # its stream's task has started (and counts it out when done)


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
        self._listeners: list[socket.socket] = []
        self._bound_port = 0
        self._pending: OrderedDict[int, _Pending] = OrderedDict()  # by fd, oldest first
        self._upgrading: set[asyncio.Task[None]] = set()
        self._connections: set[_Connection] = set()
        self._per_host: Counter[str] = Counter()
        self._closing = False
        self.stats = MllpStats()
        self.incidents = IncidentLog(log)

    @property
    def port(self) -> int:
        """The bound port once started (useful with ``port=0``), else the configured one."""
        return self._bound_port or self._port

    async def start(self) -> None:
        if self._listeners:
            raise RuntimeError("MllpServer already started")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host or None,
            self._port,
            family=socket.AF_UNSPEC,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                self._listeners.append(self._listen(family, kind, proto, address))
        except OSError as exc:
            for listener in self._listeners:
                listener.close()
            self._listeners.clear()
            raise OSError(
                exc.errno, f"MLLP cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from exc
        self._bound_port = int(self._listeners[0].getsockname()[1])
        for listener in self._listeners:
            loop.add_reader(listener.fileno(), self._accept, listener)
        log.info("MLLP listening on %s:%d", self._host, self.port)

    def _listen(
        self, family: int, kind: int, proto: int, address: tuple[Any, ...]
    ) -> socket.socket:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            # A long kernel queue: a connection waiting there holds no descriptor of ours, and
            # a short one drops SYNs under a flood (a real sender's connect() then waits 1-7 s).
            sock.listen(KERNEL_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _accept(self, listener: socket.socket) -> None:
        """Readiness callback of a listening socket: take up to ``backlog`` connections."""
        for _ in range(self._backlog):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                self._pause_accepting(listener, exc)
                return
            self._accepted(sock, address)

    def _pause_accepting(self, listener: socket.socket, exc: OSError) -> None:
        """Out of descriptors (or another accept() failure): stop accepting for a second;
        connections already open keep being served. One log line per incident."""
        what = "out of file descriptors" if exc.errno in _OUT_OF_RESOURCE else "accept() failed"
        self.incidents.note(
            "accept-failed",
            "MLLP %s (%s): refusing new connections until some close; open connections keep "
            "being served",
            what,
            exc.strerror or type(exc).__name__,
        )
        loop = asyncio.get_running_loop()
        loop.remove_reader(listener.fileno())
        loop.call_later(_ACCEPT_PAUSE_SECONDS, self._resume_accepting, listener)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if not self._closing and listener.fileno() >= 0:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept, listener)

    def _accepted(self, sock: socket.socket, address: Any) -> None:
        host = str(address[0]) if address else "unknown"
        peer = f"{address[0]}:{address[1]}" if address else "unknown"
        if not self._admit(host):
            sock.close()
            return
        sock.setblocking(False)
        self._per_host[host] += 1
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        entry = _Pending(sock, peer, host, self._max_message_bytes)
        loop = asyncio.get_running_loop()
        self._pending[entry.fd] = entry
        loop.add_reader(entry.fd, self._pending_readable, entry)
        entry.timer = loop.call_later(self._idle_timeout, self._pending_expired, entry)

    def _pending_readable(self, entry: _Pending) -> None:
        """Bytes from a connection that has not delivered a message yet."""
        if self._tls is not None:
            # The client's first handshake bytes: the handshake needs a transport (started in
            # _serve), which reads them from the socket itself. Until now it cost a close().
            self._promote(entry, b"")
            return
        try:
            data = entry.sock.recv(_READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("MLLP connection %s lost: %s", entry.peer, type(exc).__name__)
            self._drop_pending(entry)
            return
        decoder = entry.decoder
        if not data:
            if decoder.in_frame:
                self.incidents.note(
                    "ended-mid-message",
                    "MLLP connection %s ended mid-message; %d bytes dropped",
                    entry.peer,
                    decoder.buffered,
                )
            self._drop_pending(entry)
            return
        was_in_frame = decoder.in_frame
        discarded_before = decoder.discarded_bytes
        if decoder.feed(data):
            # The first complete message: the stream decodes these bytes again from the start
            # of the frame, counting and logging any junk in this chunk itself.
            self._promote(entry, bytes(entry.prefix) + data)
            return
        discarded = decoder.discarded_bytes - discarded_before
        if discarded:
            self.stats.discarded_bytes += discarded
            self.incidents.note(
                "discarded",
                "MLLP discarded %d bytes outside a complete frame from %s",
                discarded,
                entry.peer,
            )
        if decoder.overflowed:
            self.stats.oversized_messages += 1
            self.incidents.note(
                "oversized",
                "MLLP message from %s exceeds %d bytes; closing the connection",
                entry.peer,
                self._max_message_bytes,
            )
            self._drop_pending(entry)
            return
        if not decoder.in_frame:
            entry.prefix.clear()
            return
        start = data.rfind(START_BLOCK)
        if start >= 0:
            entry.prefix[:] = data[start:]
        else:
            entry.prefix += data
        if not was_in_frame:
            # A frame began: it must be complete within frame_timeout, bytes or not.
            if entry.timer is not None:
                entry.timer.cancel()
            entry.timer = asyncio.get_running_loop().call_later(
                self._frame_timeout, self._pending_expired, entry
            )

    def _pending_expired(self, entry: _Pending) -> None:
        self._note_timeout(entry.peer, entry.decoder.in_frame)
        self._drop_pending(entry)

    def _note_timeout(self, peer: str, in_frame: bool) -> None:
        """A frame or idle deadline passed: counted, logged at DEBUG (floods stay quiet)."""
        if in_frame:
            self.stats.frame_timeouts += 1
            log.debug(
                "MLLP connection %s: frame not complete within %.1fs; closing",
                peer,
                self._frame_timeout,
            )
        else:
            self.stats.idle_timeouts += 1
            log.debug("MLLP connection %s idle for %.1fs; closing", peer, self._idle_timeout)

    def _unregister_pending(self, entry: _Pending) -> bool:
        """Stop reading and timing ``entry``; False when it was no longer pending."""
        if self._pending.pop(entry.fd, None) is None:
            return False
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        asyncio.get_running_loop().remove_reader(entry.fd)
        return True

    def _drop_pending(self, entry: _Pending) -> None:
        if self._unregister_pending(entry):
            entry.sock.close()
            self._release(entry.host)

    def _release(self, host: str) -> None:
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]
        self.stats.connections_open -= 1

    def _promote(self, entry: _Pending, data: bytes) -> None:
        """Make the connection a stream with its own task, starting with ``data``."""
        if not self._unregister_pending(entry):
            return
        task = asyncio.get_running_loop().create_task(self._upgrade(entry, data))
        self._upgrading.add(task)
        task.add_done_callback(self._upgrading.discard)

    async def _upgrade(self, entry: _Pending, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_READ_CHUNK)
        if data:
            reader.feed_data(data)
        protocol = asyncio.StreamReaderProtocol(reader, lambda r, w: self._serve(r, w, entry))
        try:
            await loop.connect_accepted_socket(lambda: protocol, entry.sock)
        except (OSError, asyncio.CancelledError) as exc:
            log.debug("MLLP connection %s lost: %s", entry.peer, type(exc).__name__)
            entry.sock.close()
            if not entry.served:  # else _serve has counted it out already, or will
                self._release(entry.host)

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting; let messages in a handler finish (up to ``grace`` s), then close.

        Idle connections are closed at once; a message still unanswered after ``grace`` is
        cancelled, and its sender, having no ACK, sends it again later.
        """
        self._closing = True
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            if listener.fileno() >= 0:
                loop.remove_reader(listener.fileno())
            listener.close()
        for entry in list(self._pending.values()):
            self._drop_pending(entry)
        upgrading = list(self._upgrading)
        for task in upgrading:
            task.cancel()
        await asyncio.gather(*upgrading, return_exceptions=True)
        for conn in list(self._connections):
            if not conn.busy:
                conn.task.cancel()
        tasks = [conn.task for conn in self._connections]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, entry: _Pending
    ) -> None:
        """One admitted connection, counted in at accept: its messages, until it ends."""
        task = asyncio.current_task()
        assert task is not None
        entry.served = True
        peer, host = entry.peer, entry.host
        conn = _Connection(peer, host, task, asyncio.get_running_loop().time())
        self._connections.add(conn)
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
            self._release(host)
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
        open_now = len(self._pending) + len(self._upgrading) + len(self._connections)
        if self._max_connections is None or open_now < self._max_connections:
            return True
        if self._pending:
            # The longest-waiting connection that never delivered a message: closing it is
            # a close() (no task to cancel), so a flood of these costs little.
            oldest = next(iter(self._pending.values()))
            self._drop_pending(oldest)
            self._note_eviction()
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
        self._note_eviction()
        return True

    def _note_eviction(self) -> None:
        self.stats.connections_evicted += 1
        self.incidents.note(
            "listener-full-evicting",
            "MLLP listener full (%d connections): closing the longest-idle connections that "
            "never delivered a message to make room (BRIDGE_MLLP_MAX_CONNECTIONS)",
            self._max_connections,
        )

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
            self._note_timeout(conn.peer, in_frame)
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
