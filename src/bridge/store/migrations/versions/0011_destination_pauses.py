"""destination pauses and routing reload requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``destination_pauses``: destinations an operator paused (their backlog waits);
``routing_reloads``: requests to reload the routing file, polled by every serve process
(docs/operations.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "destination_pauses",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("paused_at", _TIME, nullable=False),
        sa.Column("paused_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("destination"),
    )
    op.create_table(
        "routing_reloads",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("routing_reloads")
    op.drop_table("destination_pauses")
