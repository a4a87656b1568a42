import io
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.contacts.models import Company, Contact
from crm.core.audit import AuditEvent
from crm.core.db import utcnow
from crm.core.errors import Conflict, Invalid
from crm.imports import rows as import_rows
from crm.imports import service as import_service
from crm.imports.models import (
    ImportChunk,
    ImportFormat,
    ImportJob,
    ImportKind,
    ImportProblem,
    ImportStatus,
    OnDuplicate,
)
from crm.users.models import Role
from tests.factories import make_company, make_contact, make_user

MB = 1 << 20


def upload(
    session: Session,
    content: str | bytes,
    *,
    kind: ImportKind = ImportKind.CONTACTS,
    filename: str = "people.csv",
    encoding: str = "utf-8",
    max_bytes: int = 10 * MB,
) -> ImportJob:
    data = content.encode(encoding) if isinstance(content, str) else content
    return import_service.create_import(
        session,
        kind=kind,
        filename=filename,
        stream=io.BytesIO(data),
        max_bytes=max_bytes,
        actor_id=None,
    )


def run(
    session: Session,
    open_session: Any,
    job: ImportJob,
    on_duplicate: OnDuplicate = OnDuplicate.SKIP,
    mapping: dict[str, str] | None = None,
) -> ImportJob:
    import_service.start_import(
        session,
        job=job,
        mapping=job.mapping if mapping is None else mapping,
        on_duplicate=on_duplicate,
    )
    session.commit()
    assert import_service.run_pending(open_session) == 1
    session.expire_all()
    return session.get(ImportJob, job.id)


def problems(session: Session, job: ImportJob) -> list[tuple[int, str | None, str, bool]]:
    return [
        (p.row, p.field, p.message, p.skipped) for p in import_service.problems(session, job=job)
    ]


def contact_by_email(session: Session, email: str) -> Contact | None:
    return contact_service.find_by_email(session, email=email)


class TestUpload:
    def test_reads_excel_style_semicolons_with_bom_and_suggests_german_columns(
        self, session: Session
    ) -> None:
        job = upload(
            session,
            "\ufeffVorname;Nachname;E-Mail;Firma;Notiz egal\r\n"
            "Anna;Müller;anna@example.com;ACME;x\r\n",
        )
        assert job.format == ImportFormat.CSV
        assert job.encoding == "utf-8-sig"
        assert job.delimiter == ";"
        assert job.columns == ["Vorname", "Nachname", "E-Mail", "Firma", "Notiz egal"]
        assert job.mapping == {"0": "first_name", "1": "last_name", "2": "email", "3": "company"}
        assert job.rows_total == 1

    def test_windows_1252_is_recognised(self, session: Session, open_session: Any) -> None:
        job = upload(
            session, "first_name,last_name,email\nJürgen,Weiß,jw@example.com\n", encoding="cp1252"
        )
        assert job.encoding == "cp1252"
        run(session, open_session, job)
        contact = contact_by_email(session, "jw@example.com")
        assert (contact.first_name, contact.last_name) == ("Jürgen", "Weiß")

    def test_empty_lines_do_not_count_as_rows(self, session: Session) -> None:
        job = upload(session, "\n\nfirst_name,last_name\n\nA,B\n,\n\nC,D\n\n")
        assert job.columns == ["first_name", "last_name"]
        assert job.rows_total == 2

    def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(self, session: Session) -> None:
        with pytest.raises(Invalid) as caught:
            upload(session, "first_name,last_name\n" + "A,B\n" * 600_000, max_bytes=2 * MB)
        assert caught.value.params == {"limit": 2}
        assert session.exec(select(ImportJob)).all() == []
        assert session.exec(select(ImportChunk)).all() == []

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("", "The file is empty."),
            ("first_name,last_name\n\n\n", "The file has no rows to import."),
        ],
    )
    def test_empty_files_are_refused(self, session: Session, content: str, message: str) -> None:
        with pytest.raises(Invalid) as caught:
            upload(session, content)
        assert caught.value.message == message

    def test_vcards_are_only_contacts(self, session: Session) -> None:
        with pytest.raises(Invalid):
            upload(session, "BEGIN:VCARD\r\nFN:A B\r\nEND:VCARD\r\n", kind=ImportKind.COMPANIES)


class TestMapping:
    def test_names_are_required(self, session: Session) -> None:
        job = upload(session, "first_name,email\nA,a@example.com\n")
        with pytest.raises(Invalid) as caught:
            import_service.start_import(
                session, job=job, mapping=job.mapping, on_duplicate=OnDuplicate.SKIP
            )
        assert caught.value.field == "mapping"

    def test_a_field_may_fill_only_one_column_unless_it_is_a_list(self, session: Session) -> None:
        job = upload(session, "a,b,c,d\n1,2,3,4\n")
        with pytest.raises(Invalid):
            import_service.check_mapping(job, {"0": "full_name", "1": "email", "2": "email"})
        mapping = {"0": "full_name", "1": "tags", "2": "tags", "3": ""}
        assert import_service.check_mapping(job, mapping) == {
            "0": "full_name",
            "1": "tags",
            "2": "tags",
        }

    def test_unknown_fields_and_columns_are_refused(self, session: Session) -> None:
        job = upload(session, "a,b\n1,2\n")
        with pytest.raises(Invalid):
            import_service.check_mapping(job, {"0": "full_name", "1": "password"})
        with pytest.raises(Invalid):
            import_service.check_mapping(job, {"0": "full_name", "7": "email"})

    def test_preview_shows_problems_and_duplicates_without_writing(self, session: Session) -> None:
        existing = make_contact(session, emails=["known@example.com"])
        job = upload(
            session,
            "name,email,phone\nAnna Berg,new@example.com,030 1234567\n"
            "Known Person,KNOWN@example.com,\nBad Mail,not-an-address,\n"
            "No Phone,x@example.com,12\n",
        )
        rows = import_service.preview(session, job=job, mapping=job.mapping)
        assert [r.number for r in rows] == [2, 3, 4, 5]
        assert rows[0].values == {
            "full_name": "Anna Berg",
            "email": "new@example.com",
            "phone": "030 1234567",
        }
        assert (rows[0].problems, rows[0].existing_id) == ([], None)
        assert rows[1].existing_id == existing.id
        assert [(p.field, p.message) for p in rows[2].problems] == [
            ("email", "Enter a valid e-mail address.")
        ]
        assert [p.field for p in rows[3].problems] == ["phone"]
        assert contact_by_email(session, "new@example.com") is None


class TestRun:
    def test_good_rows_land_and_bad_rows_are_reported(
        self, session: Session, open_session: Any
    ) -> None:
        owner = make_user(session, email="owner@example.com")
        job = upload(
            session,
            "first_name,last_name,email,phone,company,owner,tags,buying_role\n"
            "Anna,Berg,anna@example.com,030 1234567,Acme GmbH,OWNER@example.com,"
            '"VIP, Fair",Entscheider\n'
            ",Nameless,nameless@example.com,,,,,\n"
            "Bad,Mail,not-an-address,,,,,\n"
            "Ben,Kurz,ben@example.com,,ACME GMBH,nobody@example.com,,\n"
            "Carl,Lang,carl@example.com,,acme gmbh,,,decision_maker\n",
        )
        job = run(session, open_session, job)
        assert (job.status, job.rows_done, job.created, job.failed, job.skipped) == (
            ImportStatus.DONE,
            5,
            2,
            3,
            0,
        )
        assert problems(session, job) == [
            (3, "first_name", "This field is required.", False),
            (4, "email", "Enter a valid e-mail address.", False),
            (5, "owner", "No such user.", False),
        ]
        anna = contact_by_email(session, "anna@example.com")
        carl = contact_by_email(session, "carl@example.com")
        assert anna.phones == ["+49301234567"]
        assert (anna.email, anna.phone) == ("anna@example.com", "+49301234567")
        assert anna.owner_id == owner.id
        assert anna.buying_role == "decision_maker"
        assert sorted(anna.tags) == ["Fair", "VIP"]
        # One company for all spellings of its name, made once.
        assert anna.company_id == carl.company_id
        assert session.get(Company, anna.company_id).name == "Acme GmbH"
        # Found by search like any other contact.
        found, _ = contact_service.list_contacts(session, q="acme")
        assert {c.id for c in found} == {anna.id, carl.id}
        # The report keeps the row's cells; the uploaded file is gone.
        first = session.exec(select(ImportProblem).where(ImportProblem.job_id == job.id)).first()
        assert first.cells == ["", "Nameless", "nameless@example.com", "", "", "", "", ""]
        assert session.exec(select(ImportChunk).where(ImportChunk.job_id == job.id)).all() == []
        audited = session.exec(
            select(AuditEvent).where(AuditEvent.action == "contact.import")
        ).all()
        assert sorted(e.entity_id for e in audited) == sorted([anna.id, carl.id])

    def test_duplicates_are_skipped_and_reported(self, session: Session, open_session: Any) -> None:
        existing = make_contact(session, emails=["known@example.com"], job_title=None)
        job = upload(
            session,
            "first_name,last_name,email\nKnown,Person,known@example.com\n"
            "New,One,new@example.com\nAgain,One,NEW@example.com\n",
        )
        job = run(session, open_session, job)
        assert (job.created, job.skipped, job.failed) == (1, 2, 0)
        assert problems(session, job) == [
            (2, "email", "Skipped: already in the CRM as contact %(contact_id)s.", True),
            (4, "email", "Skipped: %(email)s is in row %(row)s of this file already.", True),
        ]
        session.refresh(existing)
        assert existing.first_name == "Person"

    def test_duplicates_are_updated_with_what_the_row_has(
        self, session: Session, open_session: Any
    ) -> None:
        existing = make_contact(
            session,
            first_name="Known",
            emails=["known@example.com"],
            phones=["030 1111111"],
            tags=["Old"],
            notes="Keep me",
        )
        job = upload(
            session,
            "first_name,last_name,email,phone,job_title,notes,tags\n"
            "Known,Person,known@example.com,030 2222222,CTO,,New\n",
        )
        job = run(session, open_session, job, on_duplicate=OnDuplicate.UPDATE)
        assert (job.created, job.updated, job.skipped, job.failed) == (0, 1, 0, 0)
        session.refresh(existing)
        assert existing.last_name == "Person"
        assert existing.job_title == "CTO"
        assert existing.notes == "Keep me"  # an empty cell changes nothing
        assert existing.phones == ["+49301111111", "+49302222222"]
        assert sorted(existing.tags) == ["New", "Old"]

    def test_a_conflicting_row_fails_alone(
        self, session: Session, open_session: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_contact(session, emails=["taken@example.com"])
        # As if the address had been saved by someone else after the check.
        monkeypatch.setattr(import_rows.ContactImporter, "find_existing", lambda *args: None)
        job = upload(
            session,
            "first_name,last_name,email,phone\nA,One,a@example.com,030 1234567\n"
            "B,Two,taken@example.com,030 7654321\nC,Three,c@example.com,\n",
        )
        job = run(session, open_session, job)
        assert (job.created, job.failed) == (2, 1)
        assert problems(session, job) == [
            (3, None, "This row conflicts with data saved meanwhile.", False)
        ]
        # Nothing of the failed row was written: not its number either.
        found, _ = contact_service.list_contacts(session, q="030 7654321")
        assert found == []
        assert contact_by_email(session, "a@example.com").phones == ["+49301234567"]

    def test_batches_commit_progress_and_an_interrupted_import_resumes(
        self, session: Session, open_session: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(import_service, "BATCH_ROWS", 2)
        lines = "".join(f"P{n},Row,p{n}@example.com\n" for n in range(5))
        job = upload(session, "first_name,last_name,email\n" + lines)
        import_service.start_import(
            session, job=job, mapping=job.mapping, on_duplicate=OnDuplicate.SKIP
        )
        # The first two rows were written before the process stopped.
        job.status, job.rows_done, job.created = ImportStatus.RUNNING, 2, 2
        job.updated_at = utcnow() - import_service.STALE_AFTER - timedelta(minutes=1)
        for n in range(2):
            make_contact(session, first_name=f"P{n}", last_name="Row", emails=[f"p{n}@example.com"])
        session.commit()
        assert import_service.run_pending(open_session) == 1
        session.expire_all()
        job = session.get(ImportJob, job.id)
        assert (job.status, job.rows_done, job.created, job.skipped) == (ImportStatus.DONE, 5, 5, 0)
        assert contact_by_email(session, "p4@example.com") is not None

    def test_a_running_import_is_not_taken_twice(self, session: Session) -> None:
        job = upload(session, "first_name,last_name\nA,B\n")
        import_service.start_import(
            session, job=job, mapping=job.mapping, on_duplicate=OnDuplicate.SKIP
        )
        assert import_service.claim_next(session) == job.id
        assert import_service.claim_next(session) is None

    def test_vcards_are_imported(self, session: Session, open_session: Any) -> None:
        cards = (
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Müller;Anna;;;\r\nFN:Anna Müller\r\n"
            "ORG:Sonnen\\, Wind & Co;Vertrieb\r\nTITLE:Head of\r\n  Sales\r\n"
            "EMAIL;TYPE=INTERNET:anna.private@example.com\r\n"
            "EMAIL;TYPE=INTERNET,PREF:anna@example.com\r\nTEL;TYPE=CELL:+49 171 2345678\r\n"
            "CATEGORIES:VIP,Messe\r\nNOTE:Line one\\nLine two\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Wei=C3=9F;J=\r\n"
            "=C3=BCrgen\r\nTEL;WORK;PREF:030 1234567\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:nobody@example.com\r\nEND:VCARD\r\n"
        )
        job = upload(session, cards, filename="contacts.vcf")
        assert (job.format, job.rows_total) == (ImportFormat.VCARD, 3)
        job = run(session, open_session, job)
        assert (job.created, job.failed) == (2, 1)
        anna = contact_by_email(session, "anna@example.com")
        assert (anna.first_name, anna.last_name, anna.job_title) == (
            "Anna",
            "Müller",
            "Head of Sales",
        )
        assert anna.emails == ["anna@example.com", "anna.private@example.com"]
        assert anna.phones == ["+491712345678"]
        assert anna.notes == "Line one\nLine two"
        assert sorted(anna.tags) == ["Messe", "VIP"]
        assert session.get(Company, anna.company_id).name == "Sonnen, Wind & Co"
        juergen, _ = contact_service.list_contacts(session, q="jürgen")
        assert [(c.first_name, c.last_name, c.phones) for c in juergen] == [
            ("Jürgen", "Weiß", ["+49301234567"])
        ]
        assert problems(session, job)[0][:2] == (20, "first_name")

    def test_companies_are_imported_and_matched_by_domain(
        self, session: Session, open_session: Any
    ) -> None:
        existing = make_company(
            session, name="Sonnenschein AG", website="https://www.sonnenschein.de"
        )
        job = upload(
            session,
            "Firmenname,Website,Branche,Land\nSonnenschein Solar,sonnenschein.de,Energy,de\n"
            "Nordlicht GmbH,https://nordlicht.example,Retail,DE\nBroken,,,Deutschland\n",
            kind=ImportKind.COMPANIES,
        )
        assert job.mapping == {"0": "name", "1": "website", "2": "industry", "3": "country"}
        job = run(session, open_session, job, on_duplicate=OnDuplicate.UPDATE)
        assert (job.created, job.updated, job.failed) == (1, 1, 1)
        session.refresh(existing)
        assert (existing.name, existing.industry, existing.country) == (
            "Sonnenschein Solar",
            "Energy",
            "DE",
        )
        nordlicht = session.exec(select(Company).where(Company.name == "Nordlicht GmbH")).one()
        assert nordlicht.domain == "nordlicht.example"
        assert problems(session, job)[0][:2] == (4, "country")


class TestHousekeeping:
    def test_old_finished_imports_are_purged(self, session: Session, open_session: Any) -> None:
        old = run(session, open_session, upload(session, "first_name,last_name\nA,B\n"))
        recent = upload(session, "first_name,last_name\nC,D\n")
        old.finished_at = utcnow() - import_service.FINISHED_KEPT - timedelta(days=1)
        session.add(old)
        session.commit()
        assert (
            import_service.purge_finished(session, before=utcnow() - import_service.FINISHED_KEPT)
            == 1
        )
        assert [j.id for j in session.exec(select(ImportJob))] == [recent.id]

    def test_running_imports_cannot_be_deleted(self, session: Session) -> None:
        job = upload(session, "first_name,last_name\nA,B\n")
        import_service.start_import(
            session, job=job, mapping=job.mapping, on_duplicate=OnDuplicate.SKIP
        )
        with pytest.raises(Conflict):
            import_service.delete_import(session, job=job)

    def test_people_see_their_own_imports_and_admins_all(self, session: Session) -> None:
        rep, other = make_user(session), make_user(session)
        admin = make_user(session, roles=(Role.ADMIN,))
        job = import_service.create_import(
            session,
            kind=ImportKind.CONTACTS,
            filename="a.csv",
            stream=io.BytesIO(b"first_name,last_name\nA,B\n"),
            max_bytes=MB,
            actor_id=rep.id,
        )
        assert [j.id for j in import_service.list_imports(session, user=rep)] == [job.id]
        assert import_service.list_imports(session, user=other) == []
        assert import_service.get_import(session, import_id=job.id, user=admin) == job
        assert col(ImportJob.id) is not None


class TestSuppression:
    def test_someone_who_objected_is_flagged_when_imported_again(
        self, session: Session, open_session: Any
    ) -> None:
        from crm.gdpr import rights
        from crm.gdpr.models import SuppressionReason

        gone = make_contact(session, emails=["gone@example.com"])
        rights.suppress(session, contact=gone, reason=SuppressionReason.ERASURE)
        contact_service.delete_contact(session, contact=gone, actor_id=None)
        session.commit()
        job = upload(
            session,
            "first_name,last_name,email\nGone,Again,GONE@example.com\nFresh,One,fresh@example.com\n",
        )
        job = run(session, open_session, job)
        assert job.created == 2
        assert contact_by_email(session, "gone@example.com").suppressed_at is not None
        assert contact_by_email(session, "fresh@example.com").suppressed_at is None
