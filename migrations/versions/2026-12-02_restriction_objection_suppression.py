"""restriction, objection and suppression: the Art. 18 and Art. 21 flags on contacts, the
flag of a person entered again after an objection or erasure, the suppression list of
keyed hashes, and the subjects a rule run skipped for want of a legal basis

Revision ID: ea3e15d1522a
Revises: 4617d4177e39
Create Date: 2026-12-02 06:25:58.080522
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "ea3e15d1522a"
down_revision: str | Sequence[str] | None = "4617d4177e39"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_suppression_key_hash")),
    )
    # Adding columns needs no table rebuild on SQLite: the FTS triggers on contact stay.
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restricted_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("objected_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("suppressed_at", crm.core.db.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("followup_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skipped", sa.Integer(), nullable=True))
    op.execute("UPDATE followup_run SET skipped = 0")
    with op.batch_alter_table("followup_run", schema=None) as batch_op:
        batch_op.alter_column("skipped", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("followup_run", schema=None) as batch_op:
        batch_op.drop_column("skipped")

    # ALTER TABLE ... DROP COLUMN, not a batch rebuild that would drop the FTS triggers.
    op.drop_column("contact", "suppressed_at")
    op.drop_column("contact", "objected_at")
    op.drop_column("contact", "restricted_at")

    op.drop_table("suppression")
