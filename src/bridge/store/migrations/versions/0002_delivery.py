"""delivery guarantees (dead letters, receipts, retry policy)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("header_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("window_started_at", _TIME, nullable=True))
        batch_op.add_column(
            sa.Column("attempts_before_window", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("dead_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("dead_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("discard_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("receipt_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("receipt_due_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("receipted_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("receipt_code", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliveries_header_id"), ["header_id"], unique=False)
        batch_op.create_index(
            "ix_deliveries_receipt_due", ["receipt_state", "receipt_due_at"], unique=False
        )

    op.create_table(
        "receipts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("responds_to", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_responds_to"), ["responds_to"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_delivery_id"), ["delivery_id"], unique=False)

    op.create_table(
        "alert_outbox",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_alert_outbox_unsent", ["sent_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("receipts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_receipt_due")
        batch_op.drop_index(batch_op.f("ix_deliveries_header_id"))
        for column in (
            "receipt_code",
            "receipted_at",
            "receipt_due_at",
            "receipt_state",
            "discard_reason",
            "dead_at",
            "dead_reason",
            "attempts_before_window",
            "window_started_at",
            "header_id",
        ):
            batch_op.drop_column(column)
