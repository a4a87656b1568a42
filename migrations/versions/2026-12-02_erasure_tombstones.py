"""erasure tombstones: the erased contact's id, when, by whom, on which request and how
many records; mentions in other records to redact; deals and consent records kept
without the person point to their tombstone; follow-ups indexed by their touchpoint

Revision ID: 4617d4177e39
Revises: b78d48a1fd40
Create Date: 2026-12-02 06:17:02.485476
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "4617d4177e39"
down_revision: str | Sequence[str] | None = "b78d48a1fd40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", crm.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("kept_on", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user.id"], name=op.f("fk_erasure_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_erasure_request_id_privacy_request"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
    )
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "erasure_mention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erasure_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("column_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("redacted_at", crm.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["erasure_id"],
            ["erasure.id"],
            name=op.f("fk_erasure_mention_erasure_id_erasure"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_mention")),
    )
    with op.batch_alter_table("erasure_mention", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_mention_erasure_id"), ["erasure_id"], unique=False
        )

    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erasure_id", sa.Integer(), nullable=True))
        batch_op.alter_column("contact_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_consent_event_erasure_id_erasure"),
            "erasure",
            ["erasure_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erasure_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deal_erasure_id_erasure"),
            "erasure",
            ["erasure_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.create_index("ix_followup_touchpoint", ["touchpoint_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.drop_index("ix_followup_touchpoint")

    with op.batch_alter_table("deal", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_deal_erasure_id_erasure"), type_="foreignkey")
        batch_op.drop_column("erasure_id")

    # Records kept without their erased person cannot go back to needing one.
    op.execute("DELETE FROM consent_event WHERE contact_id IS NULL")
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_consent_event_erasure_id_erasure"), type_="foreignkey"
        )
        batch_op.alter_column("contact_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("erasure_id")

    with op.batch_alter_table("erasure_mention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_mention_erasure_id"))

    op.drop_table("erasure_mention")
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_contact_id"))

    op.drop_table("erasure")
