"""Erasure: everything about the person alone goes in one transaction; won deals keep
their figures; mentions elsewhere are listed; a tombstone, but never who it was."""

import pytest
from sqlalchemy import text
from sqlmodel import select

from crm.contacts.models import Contact
from crm.core.errors import Conflict
from crm.deals import service as deal_service
from crm.deals.models import Deal, DealContactIn, DealCreate
from crm.followups.models import Followup
from crm.gdpr import cases, erasure
from crm.gdpr.models import (
    ConsentEvent,
    ErasureRequest,
    PrivacyRequest,
    RequestCreate,
    RequestUpdate,
)
from crm.journeys.models import Enrollment
from crm.models import MENTION_INDEXED, TRIGRAM_INDEXES
from crm.touchpoints.models import Touchpoint
from tests.factories import log_touchpoint, make_company


def erasure_request(session, contact, *, verified=True):
    found = cases.create_request(
        session,
        data=RequestCreate(kind="erasure", requester_name=contact.name, contact_id=contact.id),
        actor_id=None,
    )
    if verified:
        cases.update_request(
            session, found=found, data=RequestUpdate(identity_verified=True), actor_id=None
        )
    return found


def count(session, model, *where):
    return len(session.exec(select(model).where(*where)).all())


def test_erasure_takes_everything_about_them_alone(session, subject):
    _, person, other = subject
    won = deal_service.create_deal(
        session,
        data=DealCreate(
            title="Xaver's kitchen", amount="1200", contacts=[DealContactIn(contact_id=person.id)]
        ),
        actor_id=None,
    )
    won.stage_since = won.created_at
    deal_service.win_deal(session, deal=won, actor_id=None)
    lost_alone = deal_service.create_deal(
        session,
        data=DealCreate(title="Xaver's shed", contacts=[DealContactIn(contact_id=person.id)]),
        actor_id=None,
    )
    make_company(session, notes="Ask Xaver Export about the tender")
    log_touchpoint(session, contact_id=other.id, summary=f"Forwarded to {person.emails[0]}")
    found = erasure_request(session, person)
    person_id = person.id
    erased = erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)
    tombstone = erased.tombstone
    session.expire_all()
    assert session.get(Contact, person_id) is None
    for model, link in (
        (Touchpoint, Touchpoint.contact_id),
        (Enrollment, Enrollment.contact_id),
        (Followup, Followup.contact_id),
        (ConsentEvent, ConsentEvent.contact_id),
    ):
        assert count(session, model, link == person_id) == 0, model
    assert session.get(Deal, lost_alone.id) is None
    kept = session.get(Deal, won.id)
    assert (kept.title, kept.notes, kept.amount, kept.erasure_id) == (
        "(erased)",
        None,
        won.amount,
        tombstone.id,
    )
    shared = session.exec(select(Deal).where(Deal.title == "Shared deal")).one()
    assert shared.erasure_id is None  # Olivia is still in it
    assert count(session, Contact, Contact.id == other.id) == 1
    assert tombstone.contact_id == person_id and tombstone.counts["touchpoints"] == 1
    assert "Xaver" not in str(tombstone.model_dump())
    places = {
        (m.table_name, m.column_name) for m in erasure.mentions_of(session, erasure_id=tombstone.id)
    }
    assert ("company", "notes") in places and ("touchpoint", "summary") in places
    session.refresh(found)
    assert (found.status, found.requester_name) == ("done", "(erased)")
    with pytest.raises(Conflict):  # twice
        erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)


def test_erasure_needs_an_open_verified_erasure_request(session, subject):
    access, person, _ = subject
    with pytest.raises(Conflict):
        erasure.erase_request(session, found=access, data=ErasureRequest(), actor_id=None)
    unverified = erasure_request(session, person, verified=False)
    with pytest.raises(Conflict):
        erasure.erase_request(session, found=unverified, data=ErasureRequest(), actor_id=None)
    assert session.get(Contact, person.id) is not None


def test_consent_records_kept_on_a_legal_ground_lose_the_person(session, subject):
    _, person, _ = subject
    found = erasure_request(session, person)
    tombstone = erasure.erase_request(
        session,
        found=found,
        data=ErasureRequest(keep_consents_on="Art. 17(3)(e): defence of legal claims"),
        actor_id=None,
    ).tombstone
    kept = session.exec(select(ConsentEvent).where(ConsentEvent.erasure_id == tombstone.id)).all()
    assert len(kept) == 1 and kept[0].contact_id is None


def test_a_failure_half_way_leaves_everything_as_it_was(session, subject, monkeypatch):
    _, person, _ = subject
    found = erasure_request(session, person)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_list_mentions", broken)
    with pytest.raises(RuntimeError), session.begin_nested():
        erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)
    session.expire_all()
    assert session.get(Contact, person.id) is not None
    assert count(session, Touchpoint, Touchpoint.contact_id == person.id) == 1
    assert session.get(PrivacyRequest, found.id).status == "received"


def test_replay_erases_again_who_came_back_with_a_restore(session, subject, tmp_path):
    _, person, other = subject
    log = tmp_path / "erasures.jsonl"
    found = erasure_request(session, other)
    erased = erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)
    erasure.log_erasure(erased.tombstone, log_path=log)
    # as if restored from a backup of before: the person's id is back in the log's view
    entries = [*erasure.logged_erasures(log), {"contact_id": person.id}]
    replayed = erasure.replay(session, entries=entries)
    assert [e.tombstone.contact_id for e in replayed] == [person.id]
    assert session.get(Contact, person.id) is None


def test_imported_files_and_reports_lose_the_person_too(session, subject):
    from crm.imports.models import ImportChunk, ImportJob, ImportProblem

    _, person, other = subject
    email = person.emails[0]
    job = ImportJob(kind="contacts", format="csv", filename="people.csv", encoding="utf-8")
    job.status = "done"
    session.add(job)
    session.flush()
    session.add_all(
        [
            ImportChunk(job_id=job.id, position=0, data=f"Xaver,{email.upper()}\n".encode()),
            ImportChunk(job_id=job.id, position=1, data=f"Xaver,{email}\n".encode()),
            ImportChunk(job_id=job.id, position=2, data=f"Olivia,{other.emails[0]}\n".encode()),
            ImportProblem(job_id=job.id, row=3, message="dup", cells=["Xaver", email]),
            ImportProblem(job_id=job.id, row=4, message="dup", cells=["Olivia", "x"]),
        ]
    )
    session.flush()
    found = erasure_request(session, person)
    erased = erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)
    assert erased.tombstone.counts["import_traces"] == 3
    left = session.exec(select(ImportChunk.position).where(ImportChunk.job_id == job.id)).all()
    assert left == [2]  # the file's upper-case spelling of the address went too
    assert count(session, ImportProblem, ImportProblem.job_id == job.id) == 1


def test_postgres_looks_for_mentions_in_large_tables_by_trigram_index(session):
    """Where the customer base grows, each free-text column has a trigram index on
    PostgreSQL, so that an erasure does not read every row looking for the person."""
    columns = [
        ("touchpoint", "summary"),
        ("touchpoint", "notes"),
        ("phase_transition", "reason"),
        ("phase_transition", "note"),
        ("contact", "notes"),
        ("company", "notes"),
        ("deal", "title"),
        ("deal", "next_step"),
        ("deal", "notes"),
        ("deal", "lost_note"),
        ("followup", "title"),
        ("followup", "notes"),
    ]
    assert {f"ix_{t}_{c}_trgm" for t, c in columns} < TRIGRAM_INDEXES
    # every free-text column of those tables, or seeking would read them all the same
    free_text = erasure._free_text_columns().items()
    assert set(columns) == {
        (t.name, c.name) for t, found in free_text if t.name in MENTION_INDEXED for c in found
    }
    if session.get_bind().dialect.name != "postgresql":  # SQLite reads the rows
        names = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        assert not {name for (name,) in names} & TRIGRAM_INDEXES
        return
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    for table, column in columns:
        session.execute(
            text(f"PREPARE mentions(text) AS SELECT id FROM {table} WHERE {column} ILIKE $1")  # noqa: S608
        )
        plan = "\n".join(
            row[0] for row in session.execute(text("EXPLAIN EXECUTE mentions('%anna%')"))
        )
        session.execute(text("DEALLOCATE mentions"))
        assert f"ix_{table}_{column}_trgm" in plan, plan
