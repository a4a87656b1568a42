"""contact search

Revision ID: 36c6245d974f
Revises: d0430b0fba22
Create Date: 2026-11-23 11:09:43.004526
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import crm.core.db

revision: str = "36c6245d974f"
down_revision: str | Sequence[str] | None = "d0430b0fba22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite: an FTS5 index over contact.search_text, kept by triggers. A later migration that
# rebuilds the contact table in batch mode drops these triggers and must create them again
# (tests/unit/test_migrations.py checks that they exist at head). The insert trigger's
# current form is in bulk_search_indexing.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE contact_fts USING fts5(search_text, content='contact', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER contact_fts_insert AFTER INSERT ON contact BEGIN "
    "INSERT INTO contact_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER contact_fts_delete AFTER DELETE ON contact BEGIN "
    "INSERT INTO contact_fts(contact_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER contact_fts_update AFTER UPDATE OF search_text ON contact BEGIN "
    "INSERT INTO contact_fts(contact_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO contact_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO contact_fts(contact_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER contact_fts_update",
    "DROP TRIGGER contact_fts_delete",
    "DROP TRIGGER contact_fts_insert",
    "DROP TABLE contact_fts",
]
# PostgreSQL: a trigram GIN index, which serves ILIKE '%...%'.
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_contact_search_trgm ON contact USING gin (search_text gin_trgm_ops)",
]
POSTGRES_DOWN = ["DROP INDEX ix_contact_search_trgm"]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "search_text",
                sqlmodel.sql.sqltypes.AutoString(length=2000),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.alter_column("search_text", server_default=None)
    op.execute("UPDATE contact SET search_text = lower(first_name || ' ' || last_name)")
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN})
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("search_text")
