"""The words of the contacts' search text, in name order, on PostgreSQL: a search for a
common surname ("müller": 25,000 of a million contacts, together far down the name
order) fetched and sorted every match (160 ms at size L). ``contact_word`` holds each
contact's words with its sort key, so that the first matches of each word are read in
order from its index; ``search_word`` is the words in use, whose trigram index finds
the words that hold a query. A trigger keeps both. SQLite keeps its FTS5 index.

Revision ID: 5c3e81d0a7f2
Revises: 99822db81ba1
Create Date: 2026-12-03 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c3e81d0a7f2"
down_revision: str | Sequence[str] | None = "99822db81ba1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    "CREATE TABLE search_word (word text NOT NULL, CONSTRAINT pk_search_word PRIMARY KEY (word))",
    "CREATE INDEX ix_search_word_trgm ON search_word USING gin (word gin_trgm_ops)",
    """
    CREATE TABLE contact_word (
        word text NOT NULL,
        last_name varchar(100) NOT NULL,
        first_name varchar(100) NOT NULL,
        contact_id integer NOT NULL,
        CONSTRAINT pk_contact_word PRIMARY KEY (word, last_name, first_name, contact_id)
    )
    """,
    "CREATE INDEX ix_contact_word_contact_id ON contact_word (contact_id)",
    # A search text's words lie between spaces (search_text_for joins the parts with
    # them), dots and at signs (an address's parts: "a.schmidt@firm.example" is found by
    # "schmidt" through the word "schmidt", not one more word of its own).
    """
    CREATE FUNCTION contact_words() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.search_text = OLD.search_text
                AND NEW.last_name = OLD.last_name AND NEW.first_name = OLD.first_name THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM contact_word WHERE contact_id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            -- In word order, so that writers adding the same new words wait for each
            -- other instead of deadlocking.
            INSERT INTO search_word (word)
                SELECT DISTINCT w FROM regexp_split_to_table(NEW.search_text, '[ .@]+') AS w
                WHERE w <> '' ORDER BY w
                ON CONFLICT DO NOTHING;
            INSERT INTO contact_word (word, last_name, first_name, contact_id)
                SELECT DISTINCT w, NEW.last_name, NEW.first_name, NEW.id
                FROM regexp_split_to_table(NEW.search_text, '[ .@]+') AS w WHERE w <> '';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER contact_words AFTER INSERT OR DELETE
        OR UPDATE OF search_text, first_name, last_name
        ON contact FOR EACH ROW EXECUTE FUNCTION contact_words()
    """,
    """
    INSERT INTO contact_word (word, last_name, first_name, contact_id)
        SELECT DISTINCT w, last_name, first_name, id
        FROM contact, regexp_split_to_table(search_text, '[ .@]+') AS w WHERE w <> ''
    """,
    "INSERT INTO search_word (word) SELECT DISTINCT word FROM contact_word",
]

DOWNGRADE = [
    "DROP TRIGGER contact_words ON contact",
    "DROP FUNCTION contact_words()",
    "DROP TABLE contact_word",
    "DROP TABLE search_word",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
