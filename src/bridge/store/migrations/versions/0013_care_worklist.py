"""care coordinators: their scopes, and deviations reported by staff

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02

A coordinator sees the open stays of one organisation's units (``coordinator_scopes``); staff
report collaboration deviations beside the automatic ones (``reported_deviations``;
docs/coordinators.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "coordinator_scopes",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("units", sa.Text(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "reported_deviations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("responsible_unit_hsa_id", sa.String(length=64), nullable=False),
        sa.Column("responsible_unit_name", sa.String(length=200), nullable=False),
        sa.Column("episode_id", sa.String(length=36), nullable=True),
        sa.Column("patient_key", sa.String(length=64), nullable=True),
        sa.Column("patient_masked", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_at", _TIME, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("inbox", sa.String(length=64), nullable=True),
        sa.Column("alert_message_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reported_deviations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reported_deviations_category"), ["category"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reported_deviations_responsible_unit_hsa_id"),
            ["responsible_unit_hsa_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_reported_deviations_reported_at"), ["reported_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("reported_deviations")
    op.drop_table("coordinator_scopes")
