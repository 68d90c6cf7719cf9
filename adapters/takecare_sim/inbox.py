"""What the bridge sent back to TakeCare (home-care enrolments, notices for primary care,
receipts), kept in memory, deduplicated, newest first."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Format = Literal["fhir", "hl7v2"]


@dataclass(frozen=True)
class InboxItem:
    """One message received: ``event_code`` is the FHIR event code or the HL7 ``type^trigger``."""

    idempotency_key: str
    event_code: str
    patient_identifier: str | None
    received_at: datetime
    format: Format
    channel: str
    bundle: dict[str, Any] | None = None
    er7: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "event_code": self.event_code,
            "patient_identifier": self.patient_identifier,
            "received_at": self.received_at.isoformat(),
            "format": self.format,
            "channel": self.channel,
            "bundle": self.bundle,
            "er7": self.er7,
        }


class Inbox:
    """Received messages; a repeat of a key already filed is counted, not filed again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[InboxItem] = []
        self._keys: set[str] = set()
        self.duplicates = 0

    def file(self, item: InboxItem) -> bool:
        """File ``item``; False when its key was filed before."""
        with self._lock:
            if item.idempotency_key in self._keys:
                self.duplicates += 1
                return False
            self._keys.add(item.idempotency_key)
            self._items.append(item)
            return True

    def items(self, limit: int | None = None) -> list[InboxItem]:
        with self._lock:
            newest_first = self._items[::-1]
        return newest_first if limit is None else newest_first[:limit]

    def count(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._keys.clear()
            self.duplicates = 0


def now() -> datetime:
    return datetime.now(UTC)
