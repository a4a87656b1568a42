"""An administrator can put the first-run checklist away.

Revision ID: 775b13e0f096
Revises: 0c383b9fc217
Create Date: 2026-12-02 14:31:13.334213
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "775b13e0f096"
down_revision: str | Sequence[str] | None = "0c383b9fc217"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "checklist_dismissed_at", crm.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("checklist_dismissed_at")
