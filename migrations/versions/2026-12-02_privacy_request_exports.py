"""privacy request exports: the latest export file of a request, and when it was made

Revision ID: b78d48a1fd40
Revises: 9ee7e105879c
Create Date: 2026-12-02 06:13:04.421705
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "b78d48a1fd40"
down_revision: str | Sequence[str] | None = "9ee7e105879c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("export_file", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("exported_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.drop_column("exported_at")
        batch_op.drop_column("export_file")
