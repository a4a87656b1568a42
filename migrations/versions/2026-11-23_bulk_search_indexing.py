"""bulk search indexing

Revision ID: 7de4b8192f2b
Revises: 5bc8bcdeb962
Create Date: 2026-11-23 14:39:50.169363
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7de4b8192f2b"
down_revision: str | Sequence[str] | None = "5bc8bcdeb962"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only. FTS5 writes its pending terms out at every statement a trigger runs in, so
# indexing contacts one trigger call at a time costs ten times what one INSERT ... SELECT
# does. A bulk insert puts a row into contact_fts_paused inside its transaction, inserts,
# indexes its rows in one statement and removes the row again: nobody else ever sees it.
INSERT_TRIGGER = (
    "CREATE TRIGGER contact_fts_insert AFTER INSERT ON contact {when}BEGIN "
    "INSERT INTO contact_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
)
SQLITE_UP = [
    "CREATE TABLE contact_fts_paused (id INTEGER PRIMARY KEY)",
    "DROP TRIGGER contact_fts_insert",
    INSERT_TRIGGER.format(when="WHEN NOT EXISTS (SELECT 1 FROM contact_fts_paused) "),
]
SQLITE_DOWN = [
    "DROP TRIGGER contact_fts_insert",
    INSERT_TRIGGER.format(when=""),
    "DROP TABLE contact_fts_paused",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
