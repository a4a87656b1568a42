"""Indexes the homes read through: a user's latest touchpoints, the latest NPS answers,
and whether a kind of record was ever changed by someone.

Revision ID: 058fa4f2f678
Revises: 775b13e0f096
Create Date: 2026-12-02 15:09:33.569844
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "058fa4f2f678"
down_revision: str | Sequence[str] | None = "775b13e0f096"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_entity", ["entity_type", "entity_id"], unique=False)

    with op.batch_alter_table("touchpoint", schema=None) as batch_op:
        batch_op.create_index(
            "ix_touchpoint_logged_by", ["logged_by_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_touchpoint_nps",
            ["occurred_at"],
            unique=False,
            sqlite_where=sa.text("nps IS NOT NULL"),
            postgresql_where=sa.text("nps IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("touchpoint", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_touchpoint_nps",
            sqlite_where=sa.text("nps IS NOT NULL"),
            postgresql_where=sa.text("nps IS NOT NULL"),
        )
        batch_op.drop_index("ix_touchpoint_logged_by")

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity")
