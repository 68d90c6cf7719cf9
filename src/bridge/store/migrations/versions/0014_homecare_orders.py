"""home-care orders: their answers, deadlines and reminders

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

One new table (docs/orders.md); nothing earlier is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "homecare_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requester_key", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("requester_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("requester_name", sa.String(length=200), nullable=True),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.Column("patient_masked", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sent_at", _TIME, nullable=False),
        sa.Column("deadline_at", _TIME, nullable=True),
        sa.Column("answered_at", _TIME, nullable=True),
        sa.Column("reminded_at", _TIME, nullable=True),
        sa.Column("order_message_id", sa.String(length=36), nullable=False),
        sa.Column("answer_message_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("requester_key", "order_id", name="uq_homecare_orders_once"),
    )
    with op.batch_alter_table("homecare_orders", schema=None) as batch_op:
        batch_op.create_index("ix_homecare_orders_due", ["status", "deadline_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_homecare_orders_patient_key"), ["patient_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_homecare_orders_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_table("homecare_orders")
