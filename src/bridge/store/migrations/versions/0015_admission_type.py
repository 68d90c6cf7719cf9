"""episode notices carry the admission type (PV1-4 / Encounter.priority)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

Two columns (issue 15): the admission type decides the readmission indicator's "unplanned";
care_needs (the notice carries a care needs assessment) is a municipal need for the SIP rule.
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
    op.add_column(
        "care_episode_notices",
        sa.Column("care_needs", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("care_episode_notices", "care_needs")
    op.drop_column("care_episode_notices", "admission_type")
