"""Indexes on the stays kept per day that make a period one index range: the last
entries of a period that ends lately (their re-entry day first), and the stays that
ended in a period (their day first). Both tables were read whole for every report.

Revision ID: 8732df00d747
Revises: 394b9e01ddca
Create Date: 2026-12-04 19:04:13.015492
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8732df00d747"
down_revision: str | Sequence[str] | None = "394b9e01ddca"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stay_end_day", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stay_end_day_period",
            ["journey_id", "day", "phase_id", "from_days", "stays"],
            unique=False,
        )

    with op.batch_alter_table("stay_start_day", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stay_start_day_reentered",
            [
                "journey_id",
                "reentered_day",
                "day",
                "phase_id",
                "next_phase_id",
                "next_status",
                "stays",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("stay_start_day", schema=None) as batch_op:
        batch_op.drop_index("ix_stay_start_day_reentered")

    with op.batch_alter_table("stay_end_day", schema=None) as batch_op:
        batch_op.drop_index("ix_stay_end_day_period")
