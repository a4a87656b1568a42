"""An index of each user's pending follow-ups by due time, so that the planner reads a
page of them in order instead of sorting all of them (22,000 at size L).

Revision ID: 5bc5738fbae4
Revises: 8732df00d747
Create Date: 2026-12-04 19:54:47.447682
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5bc5738fbae4"
down_revision: str | Sequence[str] | None = "8732df00d747"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status IN ('open', 'snoozed')")


def upgrade() -> None:
    op.create_index(
        "ix_followup_pending",
        "followup",
        ["assignee_id", "due_at", "id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_followup_pending", table_name="followup", sqlite_where=PENDING, postgresql_where=PENDING
    )
