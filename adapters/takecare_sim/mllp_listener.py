"""A small MLLP listener: each framed message is handed to a handler, its reply framed back.

Messages on one connection are answered one at a time, in order. Bytes before a frame's start
are dropped; a block without a start byte, or larger than 1 MiB, closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from takecare_sim.masking import logger
from takecare_sim.mllp import END_BLOCK, START_BLOCK, frame, unframe

_log = logger()


class MllpListener:
    def __init__(
        self, handle: Callable[[str], str], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._handle, self._host, self._port = handle, host, port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=1 << 20
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                block = await reader.readuntil(END_BLOCK)
                if START_BLOCK not in block:
                    _log.warning("MLLP: bytes outside a frame; closing the connection")
                    return
                writer.write(frame(self._handle(unframe(block))))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
