"""Substring search over contacts: FTS5 trigram on SQLite, pg_trgm on PostgreSQL."""

import pytest
from sqlalchemy import event, text
from sqlmodel import col, select

from crm.contacts import search, service
from crm.contacts.models import CompanyUpdate, Contact, ContactUpdate
from crm.core.errors import Invalid
from crm.core.pagination import Paging, keyset_page
from tests.factories import make_company, make_contact


def found(session, q: str) -> set[int]:
    return {c.id for c in service.list_contacts(session, q=q, limit=200)[0]}


@pytest.fixture
def people(session):
    company = make_company(session, name="Brauerei Sonnenschein")
    return {
        "greta": make_contact(
            session,
            first_name="Greta",
            last_name="Grünwald",
            company_id=company.id,
            emails=["greta@sonnenschein.example"],
            phones=["+49 171 2345678"],
        ),
        "hans": make_contact(
            session, first_name="Hans", last_name="O'Hara", emails=["hans@ohara.example"]
        ),
        "company": company,
    }


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("grünwald", "greta"),
        ("GRÜN", "greta"),
        ("sonnenschein", "greta"),
        ("greta@sonnen", "greta"),
        ("0171 234", "greta"),
        ("+49171", "greta"),
        ("0049 171 23", "greta"),
        ("(0171) 23-45", "greta"),
        ("o'hara", "hans"),
        ("ohara.ex", "hans"),
        ("ns", "hans"),
    ],
)
def test_finds_by_name_email_phone_and_company(session, people, q, who):
    assert people[who].id in found(session, q)


def test_finds_nothing_for_strangers_and_odd_characters(session, people):
    assert found(session, "zeppelin") == set()
    assert found(session, '"') == set()
    assert found(session, 'a"b"c') == set()
    assert found(session, "%%%") == set()


def test_the_index_follows_every_write(session, people):
    greta = people["greta"]
    service.update_contact(
        session, contact=greta, data=ContactUpdate(last_name="Weißkopf"), actor_id=None
    )
    assert greta.id in found(session, "weißkopf") and greta.id not in found(session, "grünwald")
    service.update_company(
        session, company=people["company"], data=CompanyUpdate(name="Mondschein KG"), actor_id=None
    )
    assert greta.id in found(session, "mondschein")
    assert greta.id not in found(session, "brauerei")
    service.delete_contact(session, contact=greta, actor_id=None)
    assert found(session, "weißkopf") == set()


def test_search_combines_with_filters_and_paging(session, people):
    more = [make_contact(session, last_name=f"Suchmann{i}") for i in range(5)]
    page, cursor = service.list_contacts(session, q="suchmann", limit=3)
    rest, end = service.list_contacts(session, q="suchmann", limit=3, cursor=cursor)
    assert end is None and {c.id for c in page + rest} == {c.id for c in more}


def test_postgres_uses_the_trigram_index_even_with_a_generic_plan(session, people):
    if session.get_bind().dialect.name != "postgresql":
        assert (
            session.execute(
                text(
                    "SELECT count(*) FROM sqlite_master "
                    "WHERE type = 'trigger' AND name LIKE 'contact_fts%'"
                )
            ).scalar()
            == 3
        )
        return
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    session.execute(
        text(
            "PREPARE contact_search(text) AS SELECT id FROM contact "
            "WHERE search_text LIKE '%' || $1 || '%'"
        )
    )
    plan = "\n".join(
        row[0] for row in session.execute(text("EXPLAIN EXECUTE contact_search('sonnen')"))
    )
    session.execute(text("DEALLOCATE contact_search"))
    assert "ix_contact_search_trgm" in plan, plan


@pytest.mark.parametrize("sort", ["name", "-name", "created", "-created"])
def test_many_matches_walk_the_sort_index_and_page_the_same(session, monkeypatch, sort):
    monkeypatch.setattr(search, "FEW_MATCHES", 2)
    made = [
        make_contact(session, first_name="Vera", last_name=f"Vielfach{i}") for i in (3, 1, 4, 0, 2)
    ]
    statements = []

    def keep(_conn, _cursor, statement, params, *_):
        statements.append((statement, params))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", keep)
    seen, cursor = [], None
    while True:
        page, cursor = service.list_contacts(
            session, q="vielfach", sort=sort, limit=2, cursor=cursor
        )
        seen += page
        if cursor is None:
            break
    event.remove(connection, "before_cursor_execute", keep)
    key = (
        (lambda c: (c.last_name, c.id))
        if sort.endswith("name")
        else (lambda c: (c.created_at, c.id))
    )
    assert [c.id for c in seen] == [
        c.id for c in sorted(made, key=key, reverse=sort.startswith("-"))
    ]
    if session.get_bind().dialect.name == "sqlite":
        statement, params = next((s, p) for s, p in statements if "ORDER BY" in s)
        plan = " ".join(
            row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
        assert f"USING INDEX ix_contact_sort_{sort.lstrip('-')}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_an_unknown_sort_is_refused_before_searching(session):
    with pytest.raises(Invalid):
        service.list_contacts(session, q="something", sort="email")


def test_bulk_inserted_contacts_are_indexed_once_and_later_writes_still_are(session, people):
    from crm.contacts.models import Contact
    from crm.core.db import reserve_ids, utcnow

    now = utcnow()
    ids = reserve_ids(session, Contact.__table__, 2)
    service.insert_contacts(
        session,
        [
            {
                "id": id_,
                "first_name": "Bulk",
                "last_name": name,
                "search_text": f"bulk {name.lower()}",
                "created_at": now,
                "updated_at": now,
            }
            for id_, name in zip(ids, ["Zander", "Zeisig"], strict=True)
        ],
    )
    assert found(session, "bulk z") == set(ids)
    assert found(session, "zeisig") == {ids[1]}
    if session.get_bind().dialect.name == "sqlite":
        assert session.execute(text("SELECT count(*) FROM contact_fts_paused")).scalar() == 0
    later = make_contact(session, first_name="Bulk", last_name="Zilpzalp")
    assert found(session, "bulk z") == {*ids, later.id}
    service.delete_contact(session, contact=session.get(Contact, ids[0]), actor_id=None)
    assert found(session, "bulk z") == {ids[1], later.id}


@pytest.mark.parametrize(
    ("needle", "way"),
    [
        # the page lies among the window's rows: one query
        ("anfang", "window"),
        # a match in the window, the rest further on: spread out, the walk goes on
        ("streu", "walk"),
        # none in the window: they lie together further down, and are sorted
        ("hinten", "sorted"),
    ],
)
def test_a_window_of_next_rows_pages_many_matches_the_same_whichever_way(
    session, monkeypatch, needle, way
):
    monkeypatch.setattr(search, "WINDOW", 4)
    names = [
        "Aa Anfang",
        "Ab Anfang",
        "Ac Streu",
        "Ad Anfang",
        "Ba",
        "Bb",
        "Bc Streu",
        "Bd",
        "Ca Streu",
        "Cb Hinten",
        "Cc Hinten",
        "Cd Hinten",
    ]
    made = [make_contact(session, first_name="Vera", last_name=name) for name in names]
    query = select(Contact).where(col(Contact.search_text).contains(needle))
    keys = [col(Contact.last_name), col(Contact.first_name), col(Contact.id)]
    statements = []

    def keep(_conn, _cursor, statement, *_):
        statements.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", keep)
    seen, cursor, first = [], None, True
    while True:
        page, cursor = keyset_page(
            session,
            query,
            keys,
            descending=False,
            cursor=cursor,
            limit=2,
            paging=Paging(window=search._near(needle)),
        )
        if first:
            first_page = list(statements)
            first = False
        seen += page
        if cursor is None:
            break
    event.remove(connection, "before_cursor_execute", keep)
    assert [c.id for c in seen] == [c.id for c in made if needle in c.last_name.lower()]
    sorted_in_memory = any("coalesce" in s.lower() for s in first_page)
    assert (len(first_page), sorted_in_memory) == {
        "window": (1, False),
        "walk": (2, False),
        "sorted": (2, True),
    }[way]
