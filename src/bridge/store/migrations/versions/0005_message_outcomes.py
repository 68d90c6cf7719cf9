"""filtered and rejected messages, HL7 v2 application acknowledgements

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Only new tables (docs/hl7-conformance.md): nothing of 0001–0004 is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_outcomes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("entrypoint", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("sending_facility", sa.String(length=200), nullable=True),
        sa.Column("control_id", sa.String(length=200), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=8), nullable=True),
        sa.Column("payload_masked", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_outcomes_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_message_outcomes_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_message_outcomes_control_id"), ["control_id"], unique=False
        )

    op.create_table(
        "application_acks",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("header", sa.Text(), nullable=False),
        sa.Column("return_address", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("application_acks", schema=None) as batch_op:
        batch_op.create_index("ix_application_acks_due", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("application_acks")
    op.drop_table("message_outcomes")
