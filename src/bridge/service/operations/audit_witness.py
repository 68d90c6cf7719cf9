"""Audit anchoring: the chain head exported to a witness outside the database.

The keyed chain (:mod:`bridge.service.operations.audit`) stops someone who can write the
database but lacks the audit key from recomputing hashes. It cannot by itself show that the
newest rows were cut off and the head rewound, or that the whole log was replaced by a chain
someone with the key made up. A witness can: on a schedule, ``bridge serve`` writes the head
(sequence, hash, time) to places the database's writers cannot rewrite, and
``bridge audit verify --against FILE`` checks the database still holds every witnessed head.

Each witness line is one JSON object with an HMAC (``mac``) under the audit key, so a line
cannot be forged or altered by whoever can write the witness file either. Sinks: an append-only
JSON-lines file, syslog (RFC 3164 over UDP or a local socket) and a webhook (HTTP POST of the same
JSON). Syslog and webhook receivers keep the lines; to verify, collect them into a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import select

from bridge.service.clock import Clock
from bridge.service.operations.audit import GENESIS, HEAD_ID
from bridge.store.db import Database
from bridge.store.tables import AuditChainHeadRow, AuditRow

log = logging.getLogger(__name__)

KIND = "bridge.audit.head"


@dataclass(frozen=True)
class WitnessedHead:
    """The chain head as a witness saw it."""

    seq: int
    hash: str
    at: str
    keyed_from_seq: int

    def signed_line(self, key: bytes) -> str:
        body = self._body()
        body["mac"] = _mac(key, body)
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    def _body(self) -> dict[str, object]:
        return {
            "kind": KIND,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "keyed_from_seq": self.keyed_from_seq,
        }


def _mac(key: bytes, body: dict[str, object]) -> str:
    encoded = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


class WitnessSink(Protocol):
    name: str

    async def write(self, line: str) -> None: ...


class FileWitness:
    """Append-only JSON lines; each line written whole with O_APPEND and flushed to disk."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def write(self, line: str) -> None:
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class SyslogWitness:
    """One syslog message per head: ``host:port`` (UDP) or a local socket path (/dev/log)."""

    name = "syslog"

    def __init__(self, target: str) -> None:
        address: str | tuple[str, int]
        if target.startswith("/"):
            address = target
        else:
            host, _, port = target.rpartition(":")
            address = (host or "127.0.0.1", int(port or 514))
        self._handler = logging.handlers.SysLogHandler(
            address=address,
            facility=logging.handlers.SysLogHandler.LOG_AUTH,
            socktype=socket.SOCK_DGRAM,
        )
        self._handler.setFormatter(logging.Formatter("bridge-audit: %(message)s"))

    async def write(self, line: str) -> None:
        record = logging.LogRecord("bridge.audit.witness", logging.INFO, "", 0, line, None, None)
        await asyncio.to_thread(self._handler.emit, record)

    def close(self) -> None:
        self._handler.close()


class WebhookWitness:
    """POST the line's JSON; a bearer token when a secret is set."""

    name = "webhook"

    def __init__(self, url: str, secret: str | None, timeout: float = 5.0) -> None:
        self.url = url
        self._headers = {"Content-Type": "application/json"}
        if secret:
            self._headers["Authorization"] = f"Bearer {secret}"
        self._timeout = timeout

    async def write(self, line: str) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self.url, content=line, headers=self._headers)
            response.raise_for_status()


async def read_head(db: Database) -> tuple[int, str, int]:
    async with db.session() as session:
        head = await session.get(AuditChainHeadRow, HEAD_ID)
    if head is None:
        return 0, GENESIS, 1
    return int(head.seq), head.row_hash, int(head.keyed_from_seq)


class AuditWitness:
    """Exports the head to every sink when it moved since the last export."""

    def __init__(self, db: Database, clock: Clock, sinks: list[WitnessSink]) -> None:
        self._db = db
        self._clock = clock
        self._sinks = sinks
        self._last: tuple[int, str] | None = None

    async def export_once(self) -> WitnessedHead | None:
        seq, row_hash, keyed_from = await read_head(self._db)
        if self._last == (seq, row_hash):
            return None
        head = WitnessedHead(
            seq, row_hash, self._clock.now().astimezone(UTC).isoformat(), keyed_from
        )
        line = head.signed_line(self._db.audit_key)
        delivered = True
        for sink in self._sinks:
            try:
                await sink.write(line)
            except Exception as error:  # one sink down must not stop the others
                delivered = False
                log.error("audit witness %s failed: %s", sink.name, type(error).__name__)
        if delivered:
            self._last = (seq, row_hash)
        return head

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.export_once()
            except Exception as error:
                log.error("audit witness export failed: %s", type(error).__name__)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """A last export (the head at shutdown), then release the sinks."""
        with contextlib.suppress(Exception):
            await self.export_once()
        for sink in self._sinks:
            if isinstance(sink, SyslogWitness):
                sink.close()


@dataclass(frozen=True)
class WitnessCheck:
    """How the database compares with a witness: ``problem`` is None when it holds."""

    lines: int
    last_seq: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def parse_witness(lines: Iterable[str], key: bytes) -> tuple[list[WitnessedHead], str | None]:
    """Witnessed heads in file order, or the first line that is not a valid signed head."""
    heads: list[WitnessedHead] = []
    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text:
            continue
        # Syslog receivers keep a prefix (and maybe a NUL) around the JSON: take the object.
        start = text.find("{")
        try:
            body = json.loads(text[start : text.rfind("}") + 1]) if start >= 0 else None
            if not isinstance(body, dict) or body.get("kind") != KIND:
                return heads, f"witness line {number} is not an audit head"
            mac = body.pop("mac", "")
            head = WitnessedHead(
                int(body["seq"]), str(body["hash"]), str(body["at"]), int(body["keyed_from_seq"])
            )
        except (ValueError, KeyError, TypeError):
            return heads, f"witness line {number} is not an audit head"
        if not hmac.compare_digest(str(mac), _mac(key, head._body())):
            return heads, (
                f"witness line {number} does not carry a valid MAC under the audit key "
                "(forged, altered, or another key)"
            )
        heads.append(head)
    return heads, None


async def verify_against(db: Database, lines: Iterable[str], *, page: int = 1000) -> WitnessCheck:
    """Every witnessed head must still be in the log: the row at its seq with its hash."""
    heads, problem = parse_witness(lines, db.audit_key)
    last_seq = max((head.seq for head in heads), default=0)
    if problem is not None:
        return WitnessCheck(len(heads), last_seq, problem)
    if not heads:
        return WitnessCheck(0, 0, "the witness holds no audit head to compare with")
    seq, _, keyed_from = await read_head(db)
    latest = max(heads, key=lambda head: head.seq)
    if latest.seq > seq:
        return WitnessCheck(
            len(heads),
            last_seq,
            f"the log ends at seq {seq} but the witness saw seq {latest.seq} at {latest.at}: "
            "rows were removed and the head rewound (truncated)",
        )
    if keyed_from != latest.keyed_from_seq:
        return WitnessCheck(
            len(heads),
            last_seq,
            f"the keyed part of the chain starts at seq {keyed_from}, the witness saw "
            f"{latest.keyed_from_seq}: the chain was rebuilt",
        )
    witnessed = {head.seq: head for head in heads if head.seq > 0}
    seqs = sorted(witnessed)
    async with db.session() as session:
        for start in range(0, len(seqs), page):
            chunk = seqs[start : start + page]
            found = dict(
                (
                    await session.execute(
                        select(AuditRow.seq, AuditRow.row_hash).where(AuditRow.seq.in_(chunk))
                    )
                ).all()
            )
            for number in chunk:
                head = witnessed[number]
                if number not in found:
                    return WitnessCheck(
                        len(heads),
                        last_seq,
                        f"row seq {number}, witnessed at {head.at}, is missing from the log",
                    )
                if found[number] != head.hash:
                    return WitnessCheck(
                        len(heads),
                        last_seq,
                        f"row seq {number} differs from what the witness saw at {head.at}: "
                        "the log was rewritten or replaced from there on",
                    )
    return WitnessCheck(len(heads), last_seq, None)


def witness_sinks(
    file: Path | None,
    syslog: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> list[WitnessSink]:
    """The sinks the settings name (none: no witness)."""
    sinks: list[WitnessSink] = []
    if file is not None:
        sinks.append(FileWitness(file))
    if syslog:
        sinks.append(SyslogWitness(syslog))
    if webhook_url:
        sinks.append(WebhookWitness(webhook_url, webhook_secret))
    return sinks
