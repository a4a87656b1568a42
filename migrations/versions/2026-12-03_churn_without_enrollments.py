"""Each exit says whether the subject had reached a purchase phase before it, so that
churn counts the period's churned customers from one index range, without reading
their enrollments.

Revision ID: 7035400887f7
Revises: 32f9395f03bf
Create Date: 2026-12-03 07:53:01.544671
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7035400887f7"
down_revision: str | Sequence[str] | None = "32f9395f03bf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ALTER TABLE ... ADD COLUMN, not a batch rebuild that would drop the triggers.
    op.add_column(
        "phase_transition",
        sa.Column("left_as_customer", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        "UPDATE phase_transition SET left_as_customer = TRUE WHERE to_phase_id IS NULL "
        "AND EXISTS (SELECT 1 FROM enrollment WHERE enrollment.id = phase_transition.enrollment_id "
        "AND enrollment.purchased_at < phase_transition.at)"
    )
    op.create_index(
        "ix_phase_transition_churn",
        "phase_transition",
        ["journey_id", "status", "left_as_customer", "at", "enrollment_id"],
        unique=False,
        sqlite_where=sa.text("to_phase_id IS NULL"),
        postgresql_where=sa.text("to_phase_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_phase_transition_churn",
        table_name="phase_transition",
        sqlite_where=sa.text("to_phase_id IS NULL"),
        postgresql_where=sa.text("to_phase_id IS NULL"),
    )
    op.drop_column("phase_transition", "left_as_customer")
