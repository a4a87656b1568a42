"""primary email and phone on contact

Revision ID: 5bc8bcdeb962
Revises: 021f0b2018ec
Create Date: 2026-11-23 13:07:01.991481
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "5bc8bcdeb962"
down_revision: str | Sequence[str] | None = "021f0b2018ec"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding columns needs no table rebuild on SQLite: the FTS triggers on contact stay.
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    # The copies of the primary address and number (position 0).
    op.execute(
        "UPDATE contact SET "
        "email = (SELECT e.email FROM contact_email e "
        "WHERE e.contact_id = contact.id AND e.position = 0), "
        "phone = (SELECT p.number FROM contact_phone p "
        "WHERE p.contact_id = contact.id AND p.position = 0)"
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch rebuild that would drop the FTS triggers.
    op.drop_column("contact", "phone")
    op.drop_column("contact", "email")
