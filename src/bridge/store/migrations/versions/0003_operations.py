"""operations (users, audit hash chain, alerts)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Audit rows written before this revision are chained here, in id order, so the whole log verifies.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from bridge.service.operations.audit import GENESIS, HEAD_ID, chain_hash
from bridge.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_audit_log_seq", ["seq"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _chain_existing_rows()
    op.create_table(
        "ops_users",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "ops_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "alert_incidents",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("opened_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("alert_sent_at", _TIME, nullable=True),
        sa.Column("recovery_sent_at", _TIME, nullable=True),
        sa.Column("notify_state", sa.String(length=16), nullable=False),
        sa.Column("notify_after", _TIME, nullable=False),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("last_notify_error", sa.Text(), nullable=True),
        sa.Column("channels_done", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_incidents_opened_at"), ["opened_at"], unique=False
        )
        batch_op.create_index(
            "ix_alert_incidents_unsent", ["notify_state", "notify_after"], unique=False
        )
        batch_op.create_index(
            "uq_alert_incidents_open",
            ["key"],
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        )


def _chain_existing_rows() -> None:
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.BigInteger()),
        sa.column("at", UtcDateTime()),
        sa.column("message_id", sa.String()),
        sa.column("delivery_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("detail", sa.Text()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("row_hash", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
    prev_hash = GENESIS
    updates: list[dict[str, Any]] = []
    for seq, row in enumerate(rows, start=1):
        row_hash = chain_hash(prev_hash, seq, dict(row))
        updates.append({"row_id": row["id"], "seq": seq, "prev": prev_hash, "hash": row_hash})
        prev_hash = row_hash
    if updates:
        connection.execute(
            audit.update()
            .where(audit.c.id == sa.bindparam("row_id"))
            .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev"))
            .values(row_hash=sa.bindparam("hash")),
            updates,
        )
    head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("row_hash"))
    connection.execute(head.insert().values(id=HEAD_ID, seq=len(updates), row_hash=prev_hash))


def downgrade() -> None:
    op.drop_table("alert_incidents")
    op.drop_table("ops_secrets")
    op.drop_table("ops_users")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_seq", type_="unique")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
