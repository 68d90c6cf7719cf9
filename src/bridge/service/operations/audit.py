"""Audit rows: every state change of every message, in the same transaction as the change.

The log is a hash chain (tamper evidence, ARCHITECTURE.md guarantee 8): each row carries its
position ``seq``, the previous row's hash and its own hash over its content and that previous
hash. Changing, removing or inserting a row breaks a link that :func:`verify` finds.

Several processes append at once, so the append is serialised: :func:`record` only collects the
row; when the transaction commits, a ``before_commit`` hook locks the one ``audit_chain_head``
row (``UPDATE … RETURNING``: a row lock on PostgreSQL, the write lock on SQLite), takes the next
positions and the head's hash, inserts the rows chained onto it and moves the head. The lock is
held only from there to the end of the commit, so writers queue for the last few milliseconds of
their transactions, not for all of it (figures in docs/operations.md). Positions are handed out
under the lock, so ``seq`` order is commit order, without gaps.

The chain is keyed (docs/security.md, "Audit anchoring"): a row's hash is HMAC-SHA256 with the
audit key from settings (``BRIDGE_AUDIT_KEY``), which is never in the database, so whoever can
write the database cannot recompute hashes after an edit. Rows written before the keyed scheme
(up to ``audit_chain_head.keyed_from_seq`` - 1, set by migration 0009) keep their plain SHA-256
hashes and are verified as such; the first keyed row chains onto the last of them, so rewriting
the old rows still breaks the keyed part. The head is also exported to a witness outside the
database (:mod:`bridge.service.operations.audit_witness`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bridge.store.db import AUDIT_KEY_INFO, Database
from bridge.store.tables import AuditChainHeadRow, AuditRow

SYSTEM = "bridge"
GENESIS = "0" * 64
HEAD_ID = 1
_PENDING = "bridge.audit.pending"


def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    message_id: str | None = None,
    delivery_id: str | None = None,
    actor: str = SYSTEM,
    **detail: Any,
) -> None:
    """Add an audit row to the session's transaction. ``detail`` must hold no personnummer.

    The row is written, chained, when the transaction commits (and dropped on rollback).
    """
    row = {
        "at": at.astimezone(UTC),
        "action": action,
        "message_id": message_id,
        "delivery_id": delivery_id,
        "actor": actor,
        "detail": json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True),
    }
    session.info.setdefault(_PENDING, []).append(row)


def chain_hash(prev_hash: str, seq: int, row: dict[str, Any]) -> str:
    """Legacy (unkeyed) SHA-256 over the previous hash and this row's content: the rows written
    before migration 0009 only; every newer row uses :func:`keyed_chain_hash`."""
    return hashlib.sha256(_chain_content(prev_hash, seq, row)).hexdigest()


def keyed_chain_hash(key: bytes, prev_hash: str, seq: int, row: dict[str, Any]) -> str:
    """HMAC-SHA256 with the audit key over the previous hash and this row's content."""
    return hmac.new(key, _chain_content(prev_hash, seq, row), hashlib.sha256).hexdigest()


def _chain_content(prev_hash: str, seq: int, row: dict[str, Any]) -> bytes:
    content = [
        prev_hash,
        seq,
        row["at"].astimezone(UTC).isoformat(),
        row["action"],
        row["message_id"],
        row["delivery_id"],
        row["actor"],
        row["detail"],
    ]
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


@event.listens_for(Session, "before_commit")
def _append_chained(session: Session) -> None:
    pending: list[dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    key: bytes | None = session.info.get(AUDIT_KEY_INFO)
    if not key:
        raise RuntimeError("audit rows need a session from Database, which holds the audit key")
    connection = session.connection()
    head = connection.execute(
        update(AuditChainHeadRow)
        .where(AuditChainHeadRow.id == HEAD_ID)
        .values(seq=AuditChainHeadRow.seq + len(pending))
        .returning(AuditChainHeadRow.seq, AuditChainHeadRow.row_hash)
    ).one()
    prev_hash: str = head.row_hash
    seq = int(head.seq) - len(pending)
    for row in pending:
        seq += 1
        row.update(
            seq=seq, prev_hash=prev_hash, row_hash=keyed_chain_hash(key, prev_hash, seq, row)
        )
        prev_hash = row["row_hash"]
    connection.execute(insert(AuditRow), pending)
    connection.execute(
        update(AuditChainHeadRow).where(AuditChainHeadRow.id == HEAD_ID).values(row_hash=prev_hash)
    )


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class BrokenLink:
    """The first place the chain does not hold, said so a person can look at that row."""

    audit_id: int | None
    seq: int | None
    at: datetime | None
    action: str | None
    problem: str


@dataclass(frozen=True)
class Verification:
    rows: int
    head_seq: int
    head_hash: str
    broken: BrokenLink | None
    keyed_from_seq: int = 1

    @property
    def ok(self) -> bool:
        return self.broken is None


async def verify(db: Database, *, page: int = 5000) -> Verification:
    """Walk the chain in ``seq`` order and report the first broken link, if any."""
    async with db.session() as session:
        head = await session.get(AuditChainHeadRow, HEAD_ID)
        head_seq, head_hash = (head.seq, head.row_hash) if head else (0, GENESIS)
        keyed_from = head.keyed_from_seq if head else 1
        outside = await session.scalar(
            select(AuditRow).where(AuditRow.seq.is_(None)).order_by(AuditRow.id).limit(1)
        )
        if outside is not None:
            return Verification(0, head_seq, head_hash, _outside_chain(outside), keyed_from)
        walker = _ChainWalker(db.audit_key, keyed_from)
        while True:
            rows = (
                await session.scalars(
                    select(AuditRow)
                    .where(AuditRow.seq > walker.seq)
                    .order_by(AuditRow.seq)
                    .limit(page)
                )
            ).all()
            for row in rows:
                broken = walker.check(row)
                if broken is not None:
                    return Verification(walker.count, head_seq, head_hash, broken, keyed_from)
            if len(rows) < page:
                break
    broken = walker.check_head(head_seq, head_hash)
    return Verification(walker.count, head_seq, head_hash, broken, keyed_from)


class _ChainWalker:
    def __init__(self, key: bytes, keyed_from_seq: int) -> None:
        self.key = key
        self.keyed_from_seq = keyed_from_seq
        self.seq = 0
        self.hash = GENESIS
        self.count = 0
        self.last: AuditRow | None = None

    def check(self, row: AuditRow) -> BrokenLink | None:
        assert row.seq is not None
        if row.seq != self.seq + 1:
            missing = f"{self.seq + 1}…{row.seq - 1}" if row.seq > self.seq + 2 else self.seq + 1
            return _broken(row, f"rows before it are missing (seq {missing} deleted)")
        content = {
            "at": row.at,
            "action": row.action,
            "message_id": row.message_id,
            "delivery_id": row.delivery_id,
            "actor": row.actor,
            "detail": row.detail,
        }
        prev = row.prev_hash or ""
        if row.seq >= self.keyed_from_seq:
            expected = keyed_chain_hash(self.key, prev, row.seq, content)
        else:
            expected = chain_hash(prev, row.seq, content)
        if row.row_hash != expected:
            return _broken(
                row,
                "its content was changed after it was written, or it was hashed without the "
                "audit key (hash mismatch)",
            )
        if row.prev_hash != self.hash:
            if self.last is not None:
                return _broken(
                    self.last,
                    "it was rewritten with a recomputed hash: "
                    f"the next row (id {row.id}) recorded a different hash for it",
                )
            return _broken(row, "the first row does not start from the genesis hash")
        self.seq, self.hash, self.last = row.seq, row.row_hash, row
        self.count += 1
        return None

    def check_head(self, head_seq: int, head_hash: str) -> BrokenLink | None:
        if head_seq == self.seq and head_hash == self.hash:
            return None
        if head_seq > self.seq:
            problem = f"the last rows were removed (seq {self.seq + 1}…{head_seq} are missing)"
        else:
            problem = "the chain's head does not match the last row (head rewritten)"
        if self.last is None:
            return BrokenLink(None, head_seq, None, None, problem)
        return _broken(self.last, problem)


def _broken(row: AuditRow, problem: str) -> BrokenLink:
    return BrokenLink(row.id, row.seq, row.at, row.action, problem)


def _outside_chain(row: AuditRow) -> BrokenLink:
    return _broken(row, "it is outside the chain (written without a hash, bypassing the bridge)")
