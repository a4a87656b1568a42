"""Imports: upload, map, preview, run in batches, report. No HTTP in here."""

import logging
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import BinaryIO

from sqlalchemy import and_, delete, or_, update
from sqlmodel import Session, col, select

from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.imports import files
from crm.imports.files import SessionFactory
from crm.imports.models import (
    ImportChunk,
    ImportFormat,
    ImportJob,
    ImportKind,
    ImportProblem,
    ImportStatus,
    OnDuplicate,
)
from crm.imports.rows import (
    IMPORTERS,
    REPEATABLE,
    Importer,
    Problem,
    Row,
    RowError,
    fields_for,
    save_problems,
    suggest_mapping,
    values_of,
)
from crm.users.models import Role, User

log = logging.getLogger("crm.imports")

BATCH_ROWS = 1_000
PREVIEW_ROWS = 10
# A running import whose last batch is older than this was interrupted: it is resumed.
STALE_AFTER = timedelta(minutes=10)
FINISHED_KEPT = timedelta(days=30)
UNEXPECTED = N_("The import stopped because of an unexpected error; the rows before it were saved.")


def _may_see(user: User, job: ImportJob) -> bool:
    return job.created_by_id == user.id or user.has_role(Role.ADMIN)


def get_import(session: Session, *, import_id: int, user: User) -> ImportJob:
    job = session.get(ImportJob, import_id)
    if job is None or not _may_see(user, job):
        raise NotFound(N_("No such import."))
    return job


def list_imports(session: Session, *, user: User, limit: int = 20) -> list[ImportJob]:
    """The newest imports: the user's own, or everybody's for an admin."""
    query = select(ImportJob).order_by(col(ImportJob.id).desc()).limit(limit)
    if not user.has_role(Role.ADMIN):
        query = query.where(ImportJob.created_by_id == user.id)
    return list(session.exec(query))


def create_import(
    session: Session,
    *,
    kind: ImportKind,
    filename: str,
    stream: BinaryIO,
    max_bytes: int,
    actor_id: int | None,
) -> ImportJob:
    """Store an upload and find out what it is: format, encoding, separator, columns.
    When the file is refused, nothing of it is kept."""
    with session.begin_nested():
        job = ImportJob(
            kind=kind,
            format=ImportFormat.CSV,
            filename=filename[:255] or "upload",
            encoding="utf-8",
            created_by_id=actor_id,
        )
        session.add(job)
        session.flush()
        stored = files.store(session, job_id=job.id, stream=stream, max_bytes=max_bytes)
        job.size_bytes, job.encoding = stored.size, stored.encoding
        job.format = files.detect_format(job.filename, stored.head)
        if job.format == ImportFormat.VCARD:
            if kind != ImportKind.CONTACTS:
                raise Invalid(N_("vCard files hold people: import them as contacts."), field="file")
        else:
            job.delimiter = files.detect_delimiter(stored.head)
            job.columns = files.header(stored.head, job.delimiter)
            if not any(job.columns):
                raise Invalid(N_("The file has no header row."), field="file")
            job.mapping = suggest_mapping(kind, job.columns)
        session.flush()
        job.rows_total = sum(1 for _ in _records(lambda: nullcontext(session), job))
        if not job.rows_total:
            raise Invalid(N_("The file has no rows to import."), field="file")
        session.flush()
    return job


def _records(
    open_session: SessionFactory, job: ImportJob
) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """(row number, cells, field values) for every record of the file."""
    lines = files.lines(open_session, job.id, job.encoding)
    if job.format == ImportFormat.VCARD:
        for number, values in files.vcard_records(lines):
            yield number, list(values.values()), {k: v for k, v in values.items() if v}
        return
    for record in files.csv_records(lines, job.delimiter):
        yield record.row, record.cells, values_of(record.cells, job.mapping)


def check_mapping(job: ImportJob, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping without unmapped columns, or Invalid when it cannot work."""
    if job.format == ImportFormat.VCARD:
        return {}
    fields = fields_for(job.kind)
    mapping = {position: target for position, target in mapping.items() if target}
    for position, target in mapping.items():
        known = isinstance(target, str) and target in fields
        if not position.isdigit() or int(position) >= len(job.columns) or not known:
            raise Invalid(N_("Choose one of the offered values."), field=f"col_{position}")
    targets = list(mapping.values())
    for target in set(targets):
        if target not in REPEATABLE and targets.count(target) > 1:
            raise Invalid(
                N_("%(target)s is chosen for more than one column."), field="mapping", target=target
            )
    names = {"first_name", "last_name"} <= set(targets) or "full_name" in targets
    if job.kind == ImportKind.CONTACTS and not names:
        raise Invalid(
            N_("Choose the columns with the first and last names, or one with full names."),
            field="mapping",
        )
    if job.kind == ImportKind.COMPANIES and "name" not in targets:
        raise Invalid(N_("Choose the column with the company names."), field="mapping")
    return mapping


@dataclass
class PreviewRow:
    number: int
    values: dict[str, str]
    problems: list[Problem]
    existing_id: int | None


def preview(
    session: Session, *, job: ImportJob, mapping: dict[str, str], limit: int = PREVIEW_ROWS
) -> list[PreviewRow]:
    """The first rows as the import would read them, with their problems and the
    records they duplicate. Only the mapping is kept, for the next visit."""
    _must_be_waiting(job)
    job.mapping = check_mapping(job, mapping)
    importer = IMPORTERS[job.kind](session, job)
    rows, shown = [], []
    for number, cells, values in islice(_records(lambda: nullcontext(session), job), limit):
        row = Row(number, cells, values)
        try:
            importer.check(row)
        except RowError as exc:
            shown.append(PreviewRow(number, values, exc.problems, None))
            continue
        rows.append(row)
        shown.append(PreviewRow(number, values, [], None))
    importer.find_existing(session, rows)
    existing = {row.number: row.existing_id for row in rows}
    for item in shown:
        item.existing_id = existing.get(item.number)
    return shown


def _must_be_waiting(job: ImportJob) -> None:
    if job.status != ImportStatus.UPLOADED:
        raise Conflict(N_("This import has already been started."))


def start_import(
    session: Session, *, job: ImportJob, mapping: dict[str, str], on_duplicate: OnDuplicate
) -> ImportJob:
    """Queue the import; an import runner picks it up."""
    _must_be_waiting(job)
    job.mapping = check_mapping(job, mapping)
    job.on_duplicate = on_duplicate
    job.status = ImportStatus.QUEUED
    job.updated_at = utcnow()
    session.add(job)
    session.flush()
    return job


def delete_import(session: Session, *, job: ImportJob) -> None:
    if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        raise Conflict(N_("A running import cannot be deleted."))
    session.delete(job)
    session.flush()


def problems(session: Session, *, job: ImportJob) -> Iterator[ImportProblem]:
    query = select(ImportProblem).where(ImportProblem.job_id == job.id)
    yield from session.exec(query.order_by(ImportProblem.row, ImportProblem.id))


def _claimable(now: datetime) -> object:
    return or_(
        ImportJob.status == ImportStatus.QUEUED,
        and_(ImportJob.status == ImportStatus.RUNNING, ImportJob.updated_at < now - STALE_AFTER),
    )


def claim_next(session: Session) -> int | None:
    """Take the oldest queued (or interrupted) import; atomic, so that of several
    runners only one takes it."""
    now = utcnow()
    while True:
        job_id = session.exec(
            select(ImportJob.id).where(_claimable(now)).order_by(ImportJob.id).limit(1)
        ).first()
        if job_id is None:
            return None
        taken = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, _claimable(now))
            .values(status=ImportStatus.RUNNING, updated_at=now)
        )
        if taken.rowcount == 1:
            job = session.get(ImportJob, job_id)
            job.started_at = job.started_at or now
            session.flush()
            return job_id


def run_import(open_session: SessionFactory, job_id: int) -> None:
    """Import the job's rows in batches, each in its own transaction together with the
    job's progress, so an interrupted import resumes exactly where it stopped."""
    try:
        with open_session() as session:
            job = session.get(ImportJob, job_id)
            importer = IMPORTERS[job.kind](session, job)
            records = islice(_records(open_session, job), job.rows_done, None)
        while batch := list(islice(records, BATCH_ROWS)):
            with open_session() as session:
                job = session.get(ImportJob, job_id)
                importer.job = job
                _write_batch(session, importer, job, batch)
        with open_session() as session:
            job = session.get(ImportJob, job_id)
            job.status, job.finished_at = ImportStatus.DONE, utcnow()
            # The file has done its work; what failed is in the problems.
            session.execute(delete(ImportChunk).where(col(ImportChunk.job_id) == job_id))
    except Exception:
        log.exception("import %s failed", job_id)
        with open_session() as session:
            job = session.get(ImportJob, job_id)
            job.status, job.error, job.finished_at = ImportStatus.FAILED, UNEXPECTED, utcnow()


def _write_batch(
    session: Session,
    importer: Importer,
    job: ImportJob,
    batch: list[tuple[int, list[str], dict[str, str]]],
) -> None:
    found: list[tuple[Row, Problem]] = []
    good = []
    for number, cells, values in batch:
        row = Row(number, cells, values)
        try:
            importer.check(row)
        except RowError as exc:
            found.extend((row, problem) for problem in exc.problems)
            continue
        good.append(row)
    importer.write(session, good, found)
    save_problems(session, job, found)
    job.rows_done += len(batch)
    job.updated_at = utcnow()
    session.add(job)


def run_pending(open_session: SessionFactory) -> int:
    """Run every queued import, one after the other; returns how many ran."""
    count = 0
    while True:
        with open_session() as session:
            job_id = claim_next(session)
        if job_id is None:
            return count
        run_import(open_session, job_id)
        count += 1


def purge_finished(session: Session, *, before: datetime) -> int:
    """Drop imports finished before ``before``, their problems with them (they hold
    personal data), and uploads never started."""
    old = or_(
        and_(col(ImportJob.finished_at).is_not(None), col(ImportJob.finished_at) < before),
        and_(ImportJob.status == ImportStatus.UPLOADED, ImportJob.created_at < before),
    )
    return session.execute(delete(ImportJob).where(old)).rowcount
