"""security integrity: keyed audit chain start, unrecognised restriction flag on messages

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02

The audit chain becomes keyed (HMAC-SHA256 with ``BRIDGE_AUDIT_KEY``). The rows already written
keep their plain SHA-256 hashes: ``audit_chain_head.keyed_from_seq`` records where the keyed
rows start, and the first keyed row chains onto the last plain one (docs/security.md).
``messages.unrecognised_restriction`` flags a person treated as protected because a
confidentiality code was not recognised.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keyed_from_seq", sa.BigInteger(), server_default="1", nullable=False)
        )
    op.execute("UPDATE audit_chain_head SET keyed_from_seq = seq + 1")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unrecognised_restriction", sa.String(length=200), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("unrecognised_restriction")
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.drop_column("keyed_from_seq")
