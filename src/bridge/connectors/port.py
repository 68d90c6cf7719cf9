"""The outbound connector port: hand one encoded payload to one destination.

Errors carry their class: ``transient`` failures (timeouts, connection errors, 5xx, 429) are
retried with backoff; permanent ones (other 4xx, a receiver's fatal-error) go to the dead
letters at once (ARCHITECTURE.md guarantee 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bridge.domain.routing import Destination


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    destination: Destination
    content_type: str
    body: str
    idempotency_key: str
    correlation_id: str


class Connector(Protocol):
    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def close(self) -> None: ...
