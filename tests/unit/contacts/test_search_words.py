"""PostgreSQL's words of the contacts' search text: kept by a trigger, paged in name
order, forgotten with an erased or deleted contact. SQLite has none of it and finds
the same contacts through FTS5."""

import pytest
from sqlalchemy import event, func, text
from sqlmodel import select

from crm.contacts import search, service
from crm.contacts.jobs import prune_search_words
from crm.contacts.models import CompanyUpdate, Contact, ContactCreate, ContactUpdate
from crm.core.db import job_session, reserve_ids, utcnow
from crm.gdpr import erasure
from crm.gdpr.models import Erasure
from tests.factories import make_company, make_contact, make_user


def postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def words_kept(session) -> set[tuple[str, str, str, int]]:
    return set(session.execute(text("SELECT * FROM contact_word")).all())


def words_counted(session) -> set[tuple[str, str, str, int]]:
    return {
        (word, c.last_name, c.first_name, c.id)
        for c in session.exec(select(Contact))
        for word in search.words_of(c.search_text)
    }


def vocabulary(session) -> set[str]:
    return set(session.execute(text("SELECT word FROM search_word")).scalars())


def test_the_words_follow_every_write(session):
    if not postgres(session):
        tables = "SELECT name FROM sqlite_master WHERE name IN ('contact_word', 'search_word')"
        assert session.execute(text(tables)).all() == []
        return
    company = make_company(session, name="Müller Lüdenscheidt GmbH")
    greta = make_contact(
        session, first_name="Greta", last_name="van der Berg", company_id=company.id
    )
    hans = make_contact(session, first_name="Hans", last_name="Hans", emails=[])
    ids = reserve_ids(session, Contact.__table__, 2)
    now = utcnow()
    service.insert_contacts(
        session,
        [
            {"id": id_, "first_name": "Bulk", "last_name": name, "search_text": f"bulk {name}",
             "created_at": now, "updated_at": now}
            for id_, name in zip(ids, ["zander", "zeisig"], strict=True)
        ],
    )  # fmt: skip
    assert ("hans", "Hans", "Hans", hans.id) in words_kept(session)
    assert words_kept(session) == words_counted(session)
    service.update_contact(
        session, contact=greta, data=ContactUpdate(last_name="Weißkopf"), actor_id=None
    )
    service.update_contact(
        session, contact=hans, data=ContactUpdate(job_title="CEO"), actor_id=None
    )
    service.update_company(
        session, company=company, data=CompanyUpdate(name="Mondschein KG"), actor_id=None
    )
    session.flush()
    assert words_kept(session) == words_counted(session)
    assert ("mondschein", "Weißkopf", "Greta", greta.id) in words_kept(session)
    service.delete_contact(session, contact=hans, actor_id=None)
    session.flush()
    assert words_kept(session) == words_counted(session)
    assert {word for word, *_ in words_kept(session)} <= vocabulary(session)
    indexes = "SELECT indexname FROM pg_indexes WHERE tablename = 'search_word'"
    assert "ix_search_word_trgm" in session.execute(text(indexes)).scalars().all()


@pytest.fixture
def muellers(session):
    """Contacts found by "müller" through several words, one of them through two."""
    company = make_company(session, name="Müllerei Nord")
    names = [
        ("Anna", "Müller"),
        ("Bert", "Müller"),
        ("Anna", "Müller-Lüdenscheidt"),
        ("Carl", "Abel"),  # through the company
        ("Dora", "Zorn"),  # through the company
        ("Emil", "Müller"),  # through the name and the company
        ("Fritz", "Schmüller"),
        ("Gerd", "Maier"),  # not found
        ("Hilde", "Xaver"),  # through the address's word "müller"
    ]
    made = [
        make_contact(
            session,
            first_name=first,
            last_name=last,
            company_id=company.id if first in ("Carl", "Dora", "Emil") else None,
            emails=["h.müller@firma.example" if first == "Hilde" else f"p{n}@x.example"],
        )
        for n, (first, last) in enumerate(names)
    ]
    return [c for c in made if "müller" in c.search_text]


@pytest.mark.parametrize("sort", ["name", "-name"])
def test_pages_through_the_words_follow_the_name_order(session, muellers, sort):
    statements = []
    connection = session.connection()

    def keep(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", keep)
    seen, cursor = [], None
    while True:
        page, cursor = service.list_contacts(session, q="Müller", sort=sort, limit=2, cursor=cursor)
        seen += page
        if cursor is None:
            break
    event.remove(connection, "before_cursor_execute", keep)
    expected = sorted(muellers, key=lambda c: (c.last_name, c.first_name, c.id))
    if sort.startswith("-"):
        expected.reverse()
    assert [c.id for c in seen] == [c.id for c in expected]
    assert len(seen) == 8
    through_words = [s for s in statements if "contact_word" in s]
    assert len(through_words) == (4 if postgres(session) else 0)  # four pages of two


def test_more_words_than_the_bound_or_other_filters_find_the_same(session, muellers, monkeypatch):
    owner = make_user(session)
    expected = {c.id for c in muellers}
    by_words = {c.id for c in service.list_contacts(session, q="müller", limit=200)[0]}
    monkeypatch.setattr(search, "MAX_WORDS", 2)
    by_trigrams = {c.id for c in service.list_contacts(session, q="müller", limit=200)[0]}
    assert by_words == by_trigrams == expected
    mine = muellers[0]
    service.update_contact(
        session, contact=mine, data=ContactUpdate(owner_id=owner.id), actor_id=None
    )
    assert [c.id for c in service.list_contacts(session, q="müller", owner_id=owner.id)[0]] == [
        mine.id
    ]
    by_date = service.list_contacts(session, q="müller", sort="created", limit=200)[0]
    assert {c.id for c in by_date} == expected
    # across the words of an address: the search text's trigrams
    assert [c.last_name for c in service.list_contacts(session, q="h.müller@fi")[0]] == ["Xaver"]


def test_the_word_search_uses_its_indexes(session, muellers):
    """Each word's first contacts from its index, in order, without sorting them all;
    the search planned for its query (a generic plan, which psycopg's prepared
    statements get, reads every word instead of seeking the trigram index: seen at L)."""
    if not postgres(session):
        return
    session.execute(text("ANALYZE search_word, contact_word"))
    for small_table_plans in ("enable_seqscan", "enable_bitmapscan"):
        session.execute(text(f"SET LOCAL {small_table_plans} = off"))
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    statements = []
    connection = session.connection()

    def keep(_conn, _cursor, statement, params, *_):
        statements.append((statement, params))

    event.listen(connection, "before_cursor_execute", keep)
    service.list_contacts(session, q="müller", limit=2)
    event.remove(connection, "before_cursor_execute", keep)
    assert session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    lookup, page = (
        "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {s}", p))
        for s, p in statements
        if "_word" in s
    )
    assert "search_word" in lookup
    each_word = page.split("Limit")[-1]
    assert "pk_contact_word" in each_word and "Sort" not in each_word, page


def test_an_erasure_and_the_daily_job_forget_unused_words(engine):
    with job_session(engine) as session:
        if not postgres(session):
            assert prune_search_words(engine) == 0
            return
        kept = make_contact(session, first_name="Ottilie", last_name="Quastenflosser")
        gone = make_contact(
            session,
            first_name="Ottilie",
            last_name="Zwiebelfisch",
            emails=["ottilie@fischteich.example"],
        )
        assert search.forget_words(session, search_text=gone.search_text, wait_ms=1000) == 0
        service.delete_contact(session, contact=gone, actor_id=None)
    with job_session(engine) as session:
        assert {"zwiebelfisch", "fischteich"} <= vocabulary(session)
        assert search.forget_words(session, search_text="ottilie zwiebelfisch", wait_ms=1000) == 1
    assert prune_search_words(engine) >= 1  # the address, and what other tests left
    with job_session(engine) as session:
        words = vocabulary(session)
        assert "fischteich" not in words and "zwiebelfisch" not in words
        assert {"ottilie", "quastenflosser"} <= words
        unused = text(
            "SELECT count(*) FROM search_word s "
            "WHERE NOT EXISTS (SELECT 1 FROM contact_word c WHERE c.word = s.word)"
        )
        assert session.execute(unused).scalar() == 0
        service.delete_contact(session, contact=session.get(Contact, kept.id), actor_id=None)
    assert prune_search_words(engine) >= 2
    with job_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(search.SEARCH_WORD)) == len(
            {row[0] for row in session.execute(text("SELECT word FROM contact_word"))}
        )


def test_forgetting_waits_for_contact_writers_then_leaves_it_to_the_daily_job(engine, caplog):
    with job_session(engine) as writer:
        if not postgres(writer):
            return
        service.create_contact(
            writer, data=ContactCreate(first_name="Wilma", last_name="Schreiberling"), actor_id=None
        )
        writer.flush()  # a contact writer in the middle of its transaction
        erased = erasure.Erased(Erasure(contact_id=0), search_text="wilma schreiberling")
        erasure.forget_words(engine, erased, wait_ms=50)
        assert "left to the daily job" in caplog.text
        writer.rollback()
