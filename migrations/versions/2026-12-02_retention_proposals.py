"""retention proposals: contacts without a remaining reason to keep them, for the DPO to
approve or dismiss; the period after which leads are proposed

Revision ID: 33062f825cf9
Revises: ea3e15d1522a
Create Date: 2026-12-02 06:31:56.674582
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "33062f825cf9"
down_revision: str | Sequence[str] | None = "ea3e15d1522a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("last_activity_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("proposed_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", crm.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_retention_proposal_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user.id"],
            name=op.f("fk_retention_proposal_decided_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_proposal")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_retention_proposal_contact_id")),
    )
    with op.batch_alter_table("privacy_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_retention_months", sa.Integer(), nullable=True))
    op.execute("UPDATE privacy_settings SET lead_retention_months = 24")
    with op.batch_alter_table("privacy_settings", schema=None) as batch_op:
        batch_op.alter_column("lead_retention_months", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_settings", schema=None) as batch_op:
        batch_op.drop_column("lead_retention_months")

    op.drop_table("retention_proposal")
