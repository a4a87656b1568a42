"""The canary: a unique marker in every personal and free-text value that can relate to
one contact. The export holds every marker and nothing of another contact; after the
erasure (and the DPO's redaction of the listed mention) no marker is left in any table,
the search index, the scheduler's job store, the export folder, the logs, or the bytes
of the SQLite database and its WAL."""

import json
import logging
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import inspect, text

from crm.cli import alembic_config
from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate, CompanyUpdate, ContactCreate
from crm.core.db import job_session, make_engine, utcnow
from crm.deals import service as deal_service
from crm.deals.models import DealContactIn, DealCreate
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.gdpr import cases, erasure, export
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentChange, ErasureRequest, RequestCreate, RequestUpdate
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, MoveRequest
from crm.mail import files as mail_files
from crm.mail.models import MailAttachment
from crm.scheduler import configure
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests.conftest import fresh_database, make_settings


def a_person(session, mark: str, company_id: int, owner_id: int) -> int:
    """A contact with the marker in every personal and free-text value of every kind of
    record that can be theirs; returns the contact's id."""
    contact = contact_service.create_contact(
        session,
        data=ContactCreate(
            first_name=f"{mark}first",
            last_name=f"{mark}last",
            job_title=f"{mark} job",
            emails=[f"{mark.lower()}@example.com"],
            notes=f"{mark} notes",
            company_id=company_id,
            owner_id=owner_id,
        ),
        actor_id=owner_id,
    )
    touchpoint_service.log_touchpoint(
        session,
        data=TouchpointCreate(
            contact_id=contact.id, summary=f"{mark} call", notes=f"{mark} details", nps=9
        ),
        actor_id=owner_id,
    )
    journey = journey_service.list_journeys(session)[0]
    first, second = journey_service.phases_of(session, journey)[:2]
    enrollment = journey_service.enroll(
        session,
        data=EnrollmentCreate(
            journey_id=journey.id,
            phase_id=first.id,
            contact_id=contact.id,
            at=utcnow() - timedelta(days=3),
        ),
        actor_id=owner_id,
    )
    journey_service.move(
        session,
        enrollment=enrollment,
        data=MoveRequest(phase_id=second.id, reason=f"{mark} why", note=f"{mark} note"),
        actor_id=owner_id,
    )
    followup_service.create_followup(
        session,
        data=FollowupCreate(
            title=f"{mark} task", notes=f"{mark} todo", due_at=utcnow(), contact_id=contact.id
        ),
        actor_id=owner_id,
    )
    deal = deal_service.create_deal(
        session,
        data=DealCreate(
            title=f"{mark} deal",
            notes=f"{mark} terms",
            next_step=f"{mark} step",
            contacts=[DealContactIn(contact_id=contact.id, role="buyer")],
        ),
        actor_id=owner_id,
    )
    deal.stage_since = utcnow() - timedelta(days=1)
    deal_service.win_deal(session, deal=deal, actor_id=owner_id)
    gdpr_service.record_consent(
        session,
        contact=contact,
        data=ConsentChange(
            purpose="direct_marketing", action="granted", source="form", note=f"{mark} said yes"
        ),
        actor_id=owner_id,
        ip=f"{mark[:20]}ip",
        user_agent=f"{mark} browser",
    )
    return contact.id


def rows_with(engine, mark: str) -> list[str]:
    """Every table row, of every table there is, whose text holds the marker."""
    found = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                if mark in str(tuple(row)) or mark.lower() in str(tuple(row)):
                    found.append(table)
    return found


@pytest.fixture
def database(tmp_path):
    with fresh_database(tmp_path, "canary") as url:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        with job_session(engine) as session:
            touchpoint_service.seed_defaults(session)
            journey_service.seed_defaults(session)
            deal_service.seed_defaults(session)
            gdpr_service.seed_defaults(session)
        # the scheduler's job store, in the same database
        scheduler = configure(BackgroundScheduler(), make_settings(tmp_path, url))
        scheduler.start(paused=True)
        scheduler.shutdown(wait=False)
        yield engine, url
        engine.dispose()


def test_the_canary(database, tmp_path, caplog):
    engine, url = database
    caplog.set_level(logging.DEBUG)
    mark, other = f"CANARY{uuid.uuid4().hex[:10]}", f"OTHER{uuid.uuid4().hex[:10]}"
    exports, log_path = tmp_path / "exports", tmp_path / "erasures.jsonl"
    attachments = tmp_path / "attachments"
    with job_session(engine) as session:
        dpo = user_service.create_user(
            session,
            data=UserCreate(email="dpo@example.com", name="Dora DPO", roles={Role.DPO}),
            password="a long password for the dpo",
            actor_id=None,
        )
        company = contact_service.create_company(
            session, data=CompanyCreate(name="Shared Ltd"), actor_id=dpo.id
        )
        person = a_person(session, mark, company.id, dpo.id)
        a_person(session, other, company.id, dpo.id)
        # A mail of theirs whose attachment file its mailbox keeps.
        mail = touchpoint_service.log_touchpoint(
            session,
            data=TouchpointCreate(contact_id=person, channel="email", summary="Files"),
            actor_id=None,
        )
        session.add(
            MailAttachment(
                touchpoint_id=mail.id,
                filename="scan.txt",
                content_type="text/plain",
                size_bytes=len(mark),
                stored_name=mail_files.store(attachments, f"{mark} scan".encode()),
            )
        )
        name = contact_service.get_contact(session, contact_id=person).name
        contact_service.update_company(
            session,
            company=company,
            data=CompanyUpdate(notes=f"Our contact there is {name}."),
            actor_id=dpo.id,
        )
        found = cases.create_request(
            session,
            data=RequestCreate(kind="erasure", requester_name=name, contact_id=person),
            actor_id=dpo.id,
        )
        cases.update_request(
            session, found=found, data=RequestUpdate(identity_verified=True), actor_id=dpo.id
        )
        path = export.write_export(
            session, found=found, directory=exports, attachments=attachments, actor_id=dpo.id
        )
        request_id = found.id
    with zipfile.ZipFile(path) as archive:
        exported = "".join(archive.read(n).decode() for n in archive.namelist())
    for value in (
        "first", "last", " job", "@example.com", " notes", " call", " details", " why",
        " note", " task", " todo", " deal", " terms", " step", " said yes", "ip", " browser",
        " scan",
    ):  # fmt: skip
        marker = (mark.lower() if value == "@example.com" else mark) + value
        if value == "ip":
            marker = mark[:20] + "ip"
        assert marker in exported, marker
    assert other not in exported and other.lower() not in exported

    with job_session(engine) as session:
        found = cases.get_request(session, request_id=request_id)
        erased = erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=1)
        mentions = erasure.mentions_of(session, erasure_id=erased.tombstone.id)
        assert [(m.table_name, m.column_name) for m in mentions] == [("company", "notes")]
    # the DPO redacts the listed mention
    with job_session(engine) as session:
        company = contact_service.get_company(session, company_id=mentions[0].row_id)
        contact_service.update_company(
            session,
            company=company,
            data=CompanyUpdate(notes="Our contact there left."),
            actor_id=1,
        )
    erasure.after_commit(
        engine, erased, log_path=log_path, export_dir=exports, attachment_dir=attachments
    )

    assert rows_with(engine, mark) == []
    assert other in str(rows_with(engine, other)) or rows_with(engine, other)  # still there
    assert not any(exports.iterdir())
    assert not any(attachments.iterdir())
    assert mark not in caplog.text and mark.lower() not in caplog.text
    assert json.loads(log_path.read_text())["contact_id"] == person
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            hits = conn.execute(
                text("SELECT rowid FROM contact_fts WHERE contact_fts MATCH :m"), {"m": mark}
            ).all()
        assert hits == []
        engine.dispose()
        database_file = Path(url.removeprefix("sqlite:///"))
        for file in (database_file, database_file.with_name(database_file.name + "-wal")):
            if file.exists():
                data = file.read_bytes()
                assert mark.encode() not in data, file
                assert mark.lower().encode() not in data, file
