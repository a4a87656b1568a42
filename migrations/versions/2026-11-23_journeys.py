"""journeys

Revision ID: 85e70222efc5
Revises: 7de4b8192f2b
Create Date: 2026-11-23 15:27:18.576218
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "85e70222efc5"
down_revision: str | Sequence[str] | None = "7de4b8192f2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exit_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exit_reason")),
        sa.UniqueConstraint("key", name=op.f("uq_exit_reason_key")),
    )
    op.create_table(
        "journey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey")),
        sa.UniqueConstraint("name", name=op.f("uq_journey_name")),
    )
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journey_segment"), ["segment"], unique=False)

    op.create_table(
        "phase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=True),
        sa.Column("behaviour", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("questions", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column(
            "typical_touchpoints", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True
        ),
        sa.Column("emotions", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("pain_points", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.CheckConstraint("target_days > 0", name=op.f("ck_phase_target_days_positive")),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journey.id"],
            name=op.f("fk_phase_journey_id_journey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["phase.id"], name=op.f("fk_phase_parent_id_phase"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase")),
        sa.UniqueConstraint("journey_id", "key", name=op.f("uq_phase_journey_id_key")),
    )
    with op.batch_alter_table("phase", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_journey_id"), ["journey_id"], unique=False)

    op.create_table(
        "enrollment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("phase_since", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", crm.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_reason_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(contact_id IS NULL) <> (company_id IS NULL)", name=op.f("ck_enrollment_one_subject")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["company.id"],
            name=op.f("fk_enrollment_company_id_company"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_enrollment_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["exit_reason_id"],
            ["exit_reason.id"],
            name=op.f("fk_enrollment_exit_reason_id_exit_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_enrollment_journey_id_journey")
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"], ["phase.id"], name=op.f("fk_enrollment_phase_id_phase")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment")),
        sa.UniqueConstraint(
            "journey_id", "company_id", name=op.f("uq_enrollment_journey_id_company_id")
        ),
        sa.UniqueConstraint(
            "journey_id", "contact_id", name=op.f("uq_enrollment_journey_id_contact_id")
        ),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollment_board", ["journey_id", "status", "phase_id", "phase_since"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enrollment_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_enrollment_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "phase_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("from_phase_id", sa.Integer(), nullable=True),
        sa.Column("to_phase_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", crm.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("exit_reason_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user.id"], name=op.f("fk_phase_transition_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollment.id"],
            name=op.f("fk_phase_transition_enrollment_id_enrollment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["exit_reason_id"],
            ["exit_reason.id"],
            name=op.f("fk_phase_transition_exit_reason_id_exit_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["from_phase_id"], ["phase.id"], name=op.f("fk_phase_transition_from_phase_id_phase")
        ),
        sa.ForeignKeyConstraint(
            ["to_phase_id"], ["phase.id"], name=op.f("fk_phase_transition_to_phase_id_phase")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_transition")),
    )
    with op.batch_alter_table("phase_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_transition_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_phase_transition_history", ["enrollment_id", "at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_phase_transition_to_phase_id"), ["to_phase_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("phase_transition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_transition_to_phase_id"))
        batch_op.drop_index("ix_phase_transition_history")
        batch_op.drop_index(batch_op.f("ix_phase_transition_at"))

    op.drop_table("phase_transition")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_contact_id"))
        batch_op.drop_index(batch_op.f("ix_enrollment_company_id"))
        batch_op.drop_index("ix_enrollment_board")

    op.drop_table("enrollment")
    with op.batch_alter_table("phase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_journey_id"))

    op.drop_table("phase")
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journey_segment"))

    op.drop_table("journey")
    op.drop_table("exit_reason")
