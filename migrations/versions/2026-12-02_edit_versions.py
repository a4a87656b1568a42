"""edit versions: contacts and deals count their edits, so that a stale one is refused

Revision ID: 0c383b9fc217
Revises: 33062f825cf9
Create Date: 2026-12-02 07:16:45.306331
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "0c383b9fc217"
down_revision: str | Sequence[str] | None = "33062f825cf9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ALTER TABLE ... ADD COLUMN, not a batch rebuild that would drop the FTS triggers.
    op.add_column(
        "contact", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )

    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_column("version")

    # ALTER TABLE ... DROP COLUMN, not a batch rebuild that would drop the FTS triggers.
    op.drop_column("contact", "version")
