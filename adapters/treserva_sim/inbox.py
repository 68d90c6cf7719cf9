"""The simulator's inbox: filed notices in a small SQLite database (stdlib sqlite3).

In memory by default; give a file path and the inbox, with its dedupe memory, survives
restarts. Calls are short and serialised by a lock, so the async app may call them directly.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    event_code TEXT NOT NULL,
    patient_identifier TEXT,
    received_at TEXT NOT NULL,
    bundle TEXT NOT NULL
)
"""
_COLUMNS = "idempotency_key, event_code, patient_identifier, received_at, bundle"


@dataclass(frozen=True)
class InboxItem:
    """One filed notice as the inbox API shows it."""

    idempotency_key: str
    event_code: str
    patient_identifier: str | None
    received_at: datetime
    bundle: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "event_code": self.event_code,
            "patient_identifier": self.patient_identifier,
            "received_at": self.received_at.isoformat(),
            "bundle": self.bundle,
        }


def _item(row: tuple[str, str, str | None, str, str]) -> InboxItem:
    key, event_code, patient, received_at, bundle = row
    return InboxItem(
        key, event_code, patient, datetime.fromisoformat(received_at), json.loads(bundle)
    )


class Inbox:
    """Filed notices, deduplicated on the idempotency key, listed newest first."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def file(
        self, key: str, event_code: str, patient_identifier: str | None, bundle: dict[str, Any]
    ) -> bool:
        """File a notice; False when a notice with this key was filed before (a duplicate)."""
        received_at = datetime.now(UTC).isoformat()
        row = (key, event_code, patient_identifier, received_at, json.dumps(bundle))
        with self._lock:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO inbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",  # noqa: S608
                row,
            )
            self._db.commit()
        return cursor.rowcount == 1

    def items(self, limit: int | None = None) -> list[InboxItem]:
        """Filed notices, newest first; all of them unless ``limit`` is given."""
        query = f"SELECT {_COLUMNS} FROM inbox ORDER BY seq DESC LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._db.execute(query, (-1 if limit is None else limit,)).fetchall()
        return [_item(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            (total,) = self._db.execute("SELECT COUNT(*) FROM inbox").fetchone()
        return int(total)

    def clear(self) -> None:
        """Forget every filed notice, and with them the dedupe memory."""
        with self._lock:
            self._db.execute("DELETE FROM inbox")
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
