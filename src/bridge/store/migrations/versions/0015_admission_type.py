"""episode notices carry the admission type (PV1-4 / Encounter.priority)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

One nullable column: the readmission indicator's "unplanned" is decided by it (issue 15).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "care_episode_notices",
        sa.Column("admission_type", sa.String(length=16), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("care_episode_notices", "admission_type")
