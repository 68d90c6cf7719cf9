"""ops sessions kept server-side (revocable); the session key leaves the database

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A session cookie is valid only while its ``ops_sessions`` row exists: sign-out, a password
change, a role change or disabling the user deletes it. The signing key now comes from
``BRIDGE_SESSION_SECRET``; the key an earlier version generated and kept in ``ops_secrets`` is
deleted, which also ends every session signed with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ops_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ops_sessions_username", "ops_sessions", ["username"])
    op.create_index("ix_ops_sessions_expires_at", "ops_sessions", ["expires_at"])
    op.execute("DELETE FROM ops_secrets WHERE name = 'session-signing-key'")


def downgrade() -> None:
    op.drop_index("ix_ops_sessions_expires_at", table_name="ops_sessions")
    op.drop_index("ix_ops_sessions_username", table_name="ops_sessions")
    op.drop_table("ops_sessions")
