"""rule triggers, phases and actions; renewal dates

Follow-up rules watch several phases (a link table instead of one phase_id, copied over),
gain the NPS, date, won-deal and cadence triggers, a suggested channel and a move; companies
and deals gain a renewal date.

Revision ID: 7789f0754a3d
Revises: d2f9dba746d6
Create Date: 2026-12-02 05:27:01.183491
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "7789f0754a3d"
down_revision: str | Sequence[str] | None = "d2f9dba746d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followup_rule_phase",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["phase.id"],
            name=op.f("fk_followup_rule_phase_phase_id_phase"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["followup_rule.id"],
            name=op.f("fk_followup_rule_phase_rule_id_followup_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "phase_id", name=op.f("pk_followup_rule_phase")),
    )
    with op.batch_alter_table("followup_rule_phase", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_followup_rule_phase_phase_id"), ["phase_id"], unique=False
        )

    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewal_date", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_company_renewal_date"), ["renewal_date"], unique=False)

    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewal_date", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_deal_renewal_date"), ["renewal_date"], unique=False)

    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_channel_id_channel"),
            "channel",
            ["channel_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("followup_rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nps_at_least", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("nps_at_most", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("date_field", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("channel_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("move_to_phase_id", sa.Integer(), nullable=True))
        batch_op.alter_column("days", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column(
            "assignee_mode",
            existing_type=sa.VARCHAR(length=8),
            type_=sqlmodel.sql.sqltypes.AutoString(length=16),
            existing_nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_rule_channel_id_channel"),
            "channel",
            ["channel_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_rule_move_to_phase_id_phase"),
            "phase",
            ["move_to_phase_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            op.f("ck_followup_rule_nps_at_least_range"), "nps_at_least BETWEEN 0 AND 10"
        )
        batch_op.create_check_constraint(
            op.f("ck_followup_rule_nps_at_most_range"), "nps_at_most BETWEEN 0 AND 10"
        )

    op.execute(
        "INSERT INTO followup_rule_phase (rule_id, phase_id) "
        "SELECT id, phase_id FROM followup_rule WHERE phase_id IS NOT NULL"
    )
    with op.batch_alter_table("followup_rule", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_followup_rule_phase_id_phase"), type_="foreignkey")
        batch_op.drop_column("phase_id")


def downgrade() -> None:
    with op.batch_alter_table("followup_rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phase_id", sa.INTEGER(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_rule_phase_id_phase"),
            "phase",
            ["phase_id"],
            ["id"],
            ondelete="CASCADE",
        )

    # A rule keeps one of its phases; an NPS rule, which had no days, gets one.
    op.execute(
        "UPDATE followup_rule SET phase_id = (SELECT min(phase_id) FROM followup_rule_phase "
        "WHERE rule_id = followup_rule.id), days = coalesce(days, 1)"
    )
    with op.batch_alter_table("followup_rule", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_followup_rule_move_to_phase_id_phase"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_followup_rule_channel_id_channel"), type_="foreignkey"
        )
        batch_op.drop_constraint(op.f("ck_followup_rule_nps_at_least_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_followup_rule_nps_at_most_range"), type_="check")
        batch_op.alter_column(
            "assignee_mode",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sa.VARCHAR(length=8),
            existing_nullable=False,
        )
        batch_op.alter_column("days", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("move_to_phase_id")
        batch_op.drop_column("channel_id")
        batch_op.drop_column("date_field")
        batch_op.drop_column("nps_at_most")
        batch_op.drop_column("nps_at_least")

    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_followup_channel_id_channel"), type_="foreignkey")
        batch_op.drop_column("channel_id")

    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deal_renewal_date"))
        batch_op.drop_column("renewal_date")

    with op.batch_alter_table("company", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_renewal_date"))
        batch_op.drop_column("renewal_date")

    with op.batch_alter_table("followup_rule_phase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_rule_phase_phase_id"))

    op.drop_table("followup_rule_phase")
