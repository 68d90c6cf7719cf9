"""care episodes, deadlines and deviations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Only new tables (docs/deadlines.md): nothing of 0001–0003 is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "care_episodes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.Column("patient_masked", sa.String(length=32), nullable=False),
        sa.Column("visit_number", sa.String(length=64), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("primary_care_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("primary_care_name", sa.String(length=200), nullable=True),
        sa.Column("unit_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("unit_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("admitted_at", _TIME, nullable=True),
        sa.Column("discharged_at", _TIME, nullable=True),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_notice_at", _TIME, nullable=False),
        sa.Column("last_message_id", sa.String(length=36), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_key", "visit_number", name="uq_care_episodes_visit"),
    )
    with op.batch_alter_table("care_episodes", schema=None) as batch_op:
        batch_op.create_index("ix_care_episodes_watch", ["settled", "last_notice_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_care_episodes_patient_key"), ["patient_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_care_episodes_first_seen_at"), ["first_seen_at"], unique=False
        )

    op.create_table(
        "care_episode_notices",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("event_code", sa.String(length=64), nullable=False),
        sa.Column("sent_at", _TIME, nullable=False),
        sa.Column("occurred_at", _TIME, nullable=True),
        sa.Column("admitted_at", _TIME, nullable=True),
        sa.Column("discharged_at", _TIME, nullable=True),
        sa.Column("unit_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("unit_name", sa.String(length=200), nullable=True),
        sa.Column("class_code", sa.String(length=8), nullable=True),
        sa.Column("parties", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["care_episodes.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("care_episode_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_episode_notices_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "homecare_enrolments",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.Column("enrolment_id", sa.String(length=64), nullable=False),
        sa.Column("unit_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("unit_name", sa.String(length=200), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("last_message_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "system", "patient_key", "enrolment_id", name="uq_homecare_enrolments_once"
        ),
    )
    with op.batch_alter_table("homecare_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_homecare_enrolments_patient_key"), ["patient_key"], unique=False
        )

    op.create_table(
        "deviations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("rule_title", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("failed_step", sa.String(length=16), nullable=False),
        sa.Column("responsible", sa.String(length=16), nullable=False),
        sa.Column("patient_key", sa.String(length=64), nullable=False),
        sa.Column("patient_masked", sa.String(length=32), nullable=False),
        sa.Column("sending_unit_hsa_id", sa.String(length=64), nullable=True),
        sa.Column("sending_unit_name", sa.String(length=200), nullable=True),
        sa.Column("receivers", sa.String(length=200), nullable=False),
        sa.Column("anchor_at", _TIME, nullable=False),
        sa.Column("deadline_at", _TIME, nullable=False),
        sa.Column("done_at", _TIME, nullable=True),
        sa.Column("late_by_seconds", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", _TIME, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("alert_message_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["care_episodes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("episode_id", "rule_id", "subject", name="uq_deviations_once"),
    )
    with op.batch_alter_table("deviations", schema=None) as batch_op:
        batch_op.create_index("ix_deviations_status", ["status", "detected_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deviations_patient_key"), ["patient_key"], unique=False
        )

    op.create_table(
        "deviation_notes",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("deviation_id", sa.String(length=36), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["deviation_id"], ["deviations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deviation_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deviation_notes_deviation_id"), ["deviation_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("deviation_notes")
    op.drop_table("deviations")
    op.drop_table("homecare_enrolments")
    op.drop_table("care_episode_notices")
    op.drop_table("care_episodes")
