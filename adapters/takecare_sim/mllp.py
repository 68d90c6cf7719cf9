"""An asyncio MLLP client: one persistent connection, send and await the ACK, reconnect.

Framing is the standard one: 0x0B, the message, 0x1C 0x0D. A failed exchange (connection
lost, garbled or missing ACK, timeout) closes the connection, so a late ACK can never be
mistaken for the next message's, and the message is sent again on a fresh connection up to
``retries`` times with the same MSH-10, which the receiver recognises as a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from takecare_sim.transport import TransportError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_READ_LIMIT = 1 << 20


def frame(message: str) -> bytes:
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


def unframe(block: bytes) -> str:
    """The message inside one block read up to and including the end marker."""
    start = block.find(START_BLOCK)
    return block[start + 1 : -len(END_BLOCK)].decode("utf-8", errors="replace")


class MllpClient:
    """``await client.send(er7)`` returns the ACK text; use as ``async with`` or ``aclose()``."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 10.0,
        retries: int = 1,
        backoff: float = 0.2,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: connect with TLS (MLLP/TLS), presenting the context's client certificate."""
        self.host, self.port, self.tls = host, port, tls
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> MllpClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def send(self, message: str) -> str:
        data = frame(message)
        for attempt in range(self.retries + 1):
            reused = self._streams is not None
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._exchange(data)
            except (OSError, EOFError, TimeoutError, asyncio.LimitOverrunError) as error:
                await self.aclose()
                if attempt == self.retries:
                    reason = type(error).__name__ if isinstance(error, TimeoutError) else error
                    raise TransportError(f"MLLP {self.host}:{self.port}: {reason}") from error
                if not reused:  # a stale kept-alive connection is retried at once
                    await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _exchange(self, data: bytes) -> str:
        if self._streams is not None and self._streams[0].at_eof():
            await self.aclose()  # the receiver hung up while we were idle: not a failure
        if self._streams is None:
            self._streams = await asyncio.open_connection(
                self.host, self.port, limit=_READ_LIMIT, ssl=self.tls
            )
        reader, writer = self._streams
        writer.write(data)
        await writer.drain()
        return unframe(await reader.readuntil(END_BLOCK))

    async def aclose(self) -> None:
        if self._streams is None:
            return
        _, writer = self._streams
        self._streams = None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
