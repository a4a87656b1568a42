"""Trigram GIN indexes on the free text of the tables that grow with the customer base,
on PostgreSQL: an erasure lists where others still name the person (ILIKE '%...%' over
every free-text column), which read all ten million touchpoints at size L (7 s). SQLite
reads the rows.

Revision ID: 99822db81ba1
Revises: 32f9395f03bf
Create Date: 2026-12-03 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "99822db81ba1"
down_revision: str | Sequence[str] | None = "32f9395f03bf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The free-text columns of the tables that grow with the customer base (as
# crm.models.MENTION_INDEXED on the day of this migration).
INDEXED = {
    "touchpoint": ["summary", "notes"],
    "phase_transition": ["reason", "note"],
    "contact": ["notes"],
    "company": ["notes"],
    "deal": ["title", "next_step", "notes", "lost_note"],
    "followup": ["title", "notes"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in INDEXED.items():
        for column in columns:
            op.execute(
                f"CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in INDEXED.items():
        for column in columns:
            op.execute(f"DROP INDEX ix_{table}_{column}_trgm")
