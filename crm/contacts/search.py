"""Finding contacts by a part of their names, addresses, numbers or company, in the
order of the list: FTS5's trigram index on SQLite; on PostgreSQL the words of the
search text in name order (a few matching words) or a trigram index (many)."""

import re
from typing import Any

from sqlalchemy import Integer, String, Text, bindparam, column, delete, exists, func, table, true
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.visitors import replacement_traverse
from sqlmodel import Session, col, select

from crm.contacts.models import Contact, phone_query
from crm.core.pagination import Firsts, Paging, Window
from crm.core.sql import plan_for_values

PHONE_LIKE = re.compile(r"^[\d\s+()/.-]+$")
# Up to this many matches are fetched by id and sorted (a few microseconds each);
# beyond it, walking the list's sort index and keeping the matches reaches a page sooner.
# Below it walking can be far slower: matches on a name lie together in the name order.
FEW_MATCHES = 5_000
# On PostgreSQL many matches are first looked for among this many next rows of the
# order (a few milliseconds at a million contacts).
WINDOW = 2_000
# What separates the words of a search text (as the trigger splits it, migration
# contact_words): the parts' spaces, and an address's dots and at sign, so that the
# surname in "a.schmidt@firm.example" is the word "schmidt", not one more word.
WORD_BREAK = re.compile(r"[ .@]+")
# On PostgreSQL a query held by up to this many words reads the first matches of each
# (a page each, from the words' index); more, and they are e-mail addresses or numbers
# by the thousand, spread over the name order, where the window finds a page soon.
MAX_WORDS = 100
# The pruning job locks out new words this many words at a time.
PRUNE_BATCH = 20_000

# The words of every contact's search text with its sort key, and the words in use
# (PostgreSQL only, kept by a trigger: migration contact_words).
CONTACT_WORD = table(
    "contact_word",
    column("word", Text),
    column("last_name", String),
    column("first_name", String),
    column("contact_id", Integer),
)
SEARCH_WORD = table("search_word", column("word", Text))


def narrow(session: Session, query: Any, q: str, *, by_name_alone: bool) -> tuple[Any, Paging]:
    """``query`` narrowed to contacts whose names, addresses, numbers or company hold
    ``q``, and how to page the matches. ``by_name_alone``: nothing else narrows the
    query and it is sorted by name, so that the words' index can give its pages."""
    needle = q.strip().lower()
    if PHONE_LIKE.match(needle):
        needle = phone_query(re.sub(r"[\s()/.-]", "", needle))
    holds = col(Contact.search_text).contains(needle, autoescape=True)
    if len(needle) < 3:
        return query.where(holds), Paging()  # shorter than a trigram: no index helps
    if session.get_bind().dialect.name == "postgresql":
        # Whether the trigram indexes pay depends on the query.
        plan_for_values(session)
        if by_name_alone and not WORD_BREAK.search(needle):
            words = _words_holding(session, needle)
            if words is not None:
                return query, Paging(firsts=_firsts_of(words))
        # The trigram GIN index finds the matches; many may lie together far down the
        # order: a window first.
        few = _count_upto(session, select(Contact.id).where(holds)) <= FEW_MATCHES
        return query.where(holds), Paging(sort_in_memory=few, window=None if few else _near(needle))
    # FTS5's trigram index answers substring queries; a quoted phrase needs no escaping
    # beyond doubled quotes.
    phrase = '"' + needle.replace('"', '""') + '"'
    matches = sql("SELECT rowid FROM contact_fts WHERE contact_fts MATCH :phrase")
    matches = matches.bindparams(phrase=phrase).columns(rowid=Integer)
    count = _count_upto(session, select(column("rowid")).select_from(matches.subquery()))
    if count <= FEW_MATCHES:
        return query.where(col(Contact.id).in_(matches)), Paging(sort_in_memory=True)
    # "+ 0" hides the id from the planner, which would otherwise look up every match by
    # id and sort them all, instead of walking the sort index.
    return query.where((col(Contact.id) + 0).in_(matches)), Paging()


def _words_holding(session: Session, needle: str) -> list[str] | None:
    """The words in use that hold ``needle``; None when there are more than MAX_WORDS."""
    query = (
        select(SEARCH_WORD.c.word)
        .where(SEARCH_WORD.c.word.contains(needle, autoescape=True))
        .limit(MAX_WORDS + 1)
    )
    words = list(session.exec(query))
    return words if len(words) <= MAX_WORDS else None


# A contact's sort key as the words' index holds it.
_IN_WORDS = {
    Contact.__table__.c.last_name: CONTACT_WORD.c.last_name,
    Contact.__table__.c.first_name: CONTACT_WORD.c.first_name,
    Contact.__table__.c.id: CONTACT_WORD.c.contact_id,
}


def _swapped(clauses: list[Any], columns: dict[Any, Any]) -> list[Any]:
    """``clauses`` with their columns replaced by those ``columns`` maps them to."""
    return [replacement_traverse(clause, {}, columns.get) for clause in clauses]


def _firsts_of(words: list[str]) -> Firsts:
    """The first matches after the cursor: the first of each word's contacts, merged.
    A contact found by two words is among the first of both, or of neither."""

    def firsts(conditions: list[Any], order: list[Any], limit: int) -> Any:
        listed = (
            func.unnest(bindparam("words", words, type_=ARRAY(Text)))
            .table_valued("word")
            .render_derived(name="listed")
        )
        each = (
            select(*_IN_WORDS.values())
            .where(CONTACT_WORD.c.word == listed.c.word, *_swapped(conditions, _IN_WORDS))
            .order_by(*_swapped(order, _IN_WORDS))
            .limit(limit)
            .lateral()
        )
        in_each = {contact: each.c[mine.name] for contact, mine in _IN_WORDS.items()}
        page = (
            select(*each.c)
            .select_from(listed)
            .join(each, true())
            .distinct()
            .order_by(*_swapped(order, in_each))
            .limit(limit)
            .subquery()
        )
        return select(page.c.contact_id)

    return firsts


def _near(needle: str) -> Window:
    """The matches among the next WINDOW rows of the order."""

    def window(conditions: list[Any], order: list[Any]) -> Any:
        head = (
            select(Contact.id, Contact.search_text)
            .where(*conditions)
            .order_by(*order)
            .limit(WINDOW)
            .subquery()
        )
        return select(head.c.id).where(head.c.search_text.contains(needle, autoescape=True))

    return window


def _count_upto(session: Session, query: Any) -> int:
    """How many rows ``query`` has, counting no further than FEW_MATCHES + 1."""
    limited = query.limit(FEW_MATCHES + 1).subquery()
    return session.exec(select(func.count()).select_from(limited)).one()


def words_of(search_text: str) -> set[str]:
    return set(WORD_BREAK.split(search_text)) - {""}


def add_words(session: Session, texts: list[str]) -> None:
    """PostgreSQL: add the new words of a batch of search texts, in the order the
    trigger adds a contact's, before the batch's contacts: two imports adding the same
    words then wait for each other instead of deadlocking in their triggers."""
    words = list({word for line in texts for word in words_of(line)})
    statement = sql(
        "INSERT INTO search_word (word) SELECT w FROM unnest(CAST(:words AS text[])) AS w "
        "ORDER BY w ON CONFLICT DO NOTHING"
    )
    session.execute(statement, {"words": words})


def forget_words(session: Session, *, search_text: str, wait_ms: int) -> int:
    """PostgreSQL: drop the words of ``search_text`` (an erased contact's) that no
    contact uses any more, so that nothing of the person stays in the words' index. In a
    transaction of its own: it waits up to ``wait_ms`` for contact writers to finish."""
    words = words_of(search_text)
    if session.get_bind().dialect.name != "postgresql" or not words:
        return 0
    return _drop_unused(session, SEARCH_WORD.c.word.in_(words), wait_ms=wait_ms)


def prune_words(session: Session, *, after: str, wait_ms: int) -> tuple[int, str | None]:
    """PostgreSQL: drop the words no contact uses any more (deleted contacts') among the
    next PRUNE_BATCH words after ``after``; how many, and where the next batch starts
    (None after the last). In a transaction of its own, as ``forget_words``."""
    if session.get_bind().dialect.name != "postgresql":
        return 0, None
    batch = (
        select(SEARCH_WORD.c.word)
        .where(SEARCH_WORD.c.word > after)
        .order_by(SEARCH_WORD.c.word)
        .limit(PRUNE_BATCH)
        .subquery()
    )
    last = session.exec(select(func.max(batch.c.word))).one()
    if last is None:
        return 0, None
    words = [SEARCH_WORD.c.word > after, SEARCH_WORD.c.word <= last]
    return _drop_unused(session, *words, wait_ms=wait_ms), last


def _drop_unused(session: Session, *where: Any, wait_ms: int) -> int:
    # The lock waits for writers adding a word's first contact (each adds the word
    # first), whose contact_word rows the check below could not see yet.
    session.execute(sql(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
    session.execute(sql("LOCK TABLE search_word IN SHARE ROW EXCLUSIVE MODE"))
    used = exists().where(CONTACT_WORD.c.word == SEARCH_WORD.c.word)
    return session.execute(delete(SEARCH_WORD).where(*where, ~used)).rowcount
