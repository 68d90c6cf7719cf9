"""MLLP client: sends one HL7 v2 message at a time over a persistent connection.

Every failure is an :class:`MllpError` whose ``transient`` flag says whether sending again later
may succeed; the delivery worker's retry policy, not this class, decides when. The only retry
here is for a *reused* connection the receiver closed while it sat idle: the send is repeated
once on a fresh connection. A fresh connection that breaks is reported, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import ClassVar

from bridge.entrypoints.mllp import FrameDecoder, frame

log = logging.getLogger(__name__)

_READ_CHUNK = 65_536


class MllpError(Exception):
    """Sending over MLLP failed."""

    transient: ClassVar[bool] = True


class MllpConnectionError(MllpError, ConnectionError):
    """Could not connect, or the connection broke before a reply arrived (transient)."""


class MllpTimeoutError(MllpError, TimeoutError):
    """No connection or no reply in time (transient; the receiver may have the message)."""


class MllpProtocolError(MllpError):
    """The reply was not a valid MLLP frame, or too large (transient: retry is safe)."""


class _StaleConnectionError(Exception):
    """The connection was closed by the peer before our message got a reply."""


class MllpClient:
    """An MLLP sender to one receiver; one message in flight at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        encoding: str = "utf-8",
        max_reply_bytes: int = 1_048_576,
    ) -> None:
        self.host = host
        self.port = port
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._encoding = encoding
        self._max_reply_bytes = max_reply_bytes
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, message: bytes | str) -> bytes:
        """Send one message; return the reply without framing. ``str`` is encoded first."""
        payload = message.encode(self._encoding) if isinstance(message, str) else message
        async with self._lock:
            reused = self._writer is not None
            try:
                return await self._exchange(payload)
            except _StaleConnectionError:
                if not reused:
                    raise MllpConnectionError(self._describe("closed before replying")) from None
                log.info("MLLP connection to %s went stale; reconnecting once", self._peer)
                try:
                    return await self._exchange(payload)
                except _StaleConnectionError:
                    raise MllpConnectionError(self._describe("closed before replying")) from None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def __aenter__(self) -> MllpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def _peer(self) -> str:
        return f"{self.host}:{self.port}"

    def _describe(self, what: str) -> str:
        return f"MLLP receiver {self._peer} {what}"

    async def _exchange(self, payload: bytes) -> bytes:
        """One attempt; any failure leaves the client without a connection."""
        reader, writer = await self._connection()
        try:
            async with asyncio.timeout(self._timeout):
                writer.write(frame(payload))
                await writer.drain()
                return await self._read_reply(reader)
        except TimeoutError:
            await self.close()
            late = self._describe(f"sent no reply within {self._timeout}s")
            raise MllpTimeoutError(late) from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            await self.close()
            raise _StaleConnectionError from exc
        except OSError as exc:
            await self.close()
            raise MllpConnectionError(self._describe(f"connection failed: {exc}")) from exc
        except BaseException:
            await self.close()
            raise

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._writer is not None:
            return self._reader, self._writer
        try:
            async with asyncio.timeout(self._connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise MllpTimeoutError(self._describe("did not accept a connection in time")) from None
        except OSError as exc:
            raise MllpConnectionError(self._describe(f"unreachable: {exc}")) from exc
        return self._reader, self._writer

    async def _read_reply(self, reader: asyncio.StreamReader) -> bytes:
        decoder = FrameDecoder(self._max_reply_bytes)
        while True:
            data = await reader.read(_READ_CHUNK)
            if not data:
                raise _StaleConnectionError
            replies = decoder.feed(data)
            if decoder.overflowed:
                raise MllpProtocolError(self._describe("replied with an oversized frame"))
            if replies:
                if len(replies) > 1 or decoder.in_frame:
                    await self._drop_unexpected()
                return replies[0]

    async def _drop_unexpected(self) -> None:
        # Extra bytes would be taken for the next message's reply; start afresh instead.
        log.warning("MLLP receiver %s sent more than one reply; reconnecting", self._peer)
        await self.close()
