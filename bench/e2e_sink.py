"""The destination for the end-to-end bench: a minimal HTTP/1.1 server on raw asyncio.

Runs in its own process, so its CPU is never counted as the bridge's. For every
``POST …/$process-message`` it notes the arrival time (``time.monotonic()``, the system-wide
CLOCK_MONOTONIC, comparable with the bench process's), the ``Idempotency-Key`` header and the
source message id (MSH-10, found in the Bundle's message-origin extension without parsing the
JSON), and answers ``200`` with an empty body (the bridge counts that as delivered). While
refusing it answers ``503`` and notes nothing but a count.

Control, on the same port: ``POST /refuse``, ``POST /accept``, ``GET /stats`` (counts as
``delivered refused``), ``GET /records`` (one line per delivery: ``time key message-id``).

    python bench/e2e_sink.py    # prints the port it listens on, then serves until killed
"""

from __future__ import annotations

import asyncio
import time

MARKER = b'"messageId","valueString":"'
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[float, bytes, bytes]] = []
        self.refusing = False
        self.refused = 0

    def control(self, method: bytes, path: bytes) -> bytes:
        if path == b"/refuse":
            self.refusing = True
            body = b"refusing"
        elif path == b"/accept":
            self.refusing = False
            body = b"accepting"
        elif path == b"/stats":
            body = b"%d %d" % (len(self.records), self.refused)
        elif path == b"/records":
            body = b"".join(b"%.6f %s %s\n" % record for record in self.records)
        else:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def notice(self, headers: dict[bytes, bytes], body: bytes) -> bytes:
        if self.refusing:
            self.refused += 1
            return REFUSED
        start = body.find(MARKER)
        message_id = b"-"
        if start >= 0:
            start += len(MARKER)
            message_id = body[start : body.find(b'"', start)]
        key = headers.get(b"idempotency-key", b"-")
        self.records.append((time.monotonic(), key, message_id))
        return OK


class SinkProtocol(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self._buffer[:end].split(b"\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        if len(self._buffer) < end + 4 + length:
            return False
        body = self._buffer[end + 4 : end + 4 + length]
        self._buffer = self._buffer[end + 4 + length :]
        method, path = head[0].split(b" ")[:2]
        if path.endswith(b"$process-message"):
            answer = self._sink.notice(headers, body)
        else:
            answer = self._sink.control(method, path)
        assert self._transport is not None
        self._transport.write(answer)
        return True


async def serve() -> None:
    loop = asyncio.get_running_loop()
    sink = Sink()
    server = await loop.create_server(lambda: SinkProtocol(sink), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve())
