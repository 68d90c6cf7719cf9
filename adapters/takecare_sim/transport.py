"""What carries a message to the bridge and brings its ACK back: the sender's port."""

from __future__ import annotations

from typing import Protocol


class TransportError(Exception):
    """The message could not be handed over or no ACK came back (after any retries)."""


class AckingTransport(Protocol):
    """Sends one ER7 message and returns the ER7 ACK the receiver answered with."""

    async def send(self, message: str) -> str: ...

    async def aclose(self) -> None: ...
