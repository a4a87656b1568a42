"""Erasure (Art. 17) in one transaction, following ``crm.gdpr.subject``:

- the contact and every record about them alone go (addresses, numbers, tags,
  touchpoints, journeys and their moves, follow-ups, deal roles, consent records unless
  kept on a recorded legal ground);
- deals they alone took part in: won ones keep their figures for the books, lose their
  free text and point to the tombstone; others go;
- their privacy requests stay as proof of the handling, without their name;
- the audit trail stays: it never held values;
- free text in other records that names them is listed for the DPO to redact;
- a tombstone records which id went, when and on whose request, never who it was.

After the commit, ``after_commit`` appends the tombstone to the erasure log outside the
database (``replay`` erases again after restoring an older backup), drops PostgreSQL's
search words that only the person had and, on SQLite, rewrites the search index and
checkpoints the WAL, so that no byte of the person stays in the files.
"""

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlmodel import AutoString, Session, col

from crm.contacts import search
from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import Privacy, job_session, utcnow
from crm.core.errors import N_, Conflict, NotFound
from crm.core.sql import bytes_contain
from crm.deals.models import Deal, DealContact, DealStatus
from crm.gdpr import rights
from crm.gdpr.models import (
    OPEN_STATUSES,
    ConsentEvent,
    Erasure,
    ErasureMention,
    ErasureMentionPublic,
    ErasurePublic,
    ErasureRequest,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
    SuppressionReason,
)
from crm.gdpr.subject import KINDS, Erase
from crm.imports.models import ImportChunk, ImportJob, ImportProblem, ImportStatus
from crm.mail import files as mail_files
from crm.mail.models import TriageEntry
from crm.models import MENTION_INDEXED, metadata

ERASED = "(erased)"
log = logging.getLogger("crm.gdpr")


@dataclass
class Erased:
    """What an erasure leaves to do after its commit: log the tombstone, delete files,
    forget the words the person was found by."""

    tombstone: Erasure
    export_files: list[str] = field(default_factory=list)
    search_text: str = ""
    attachment_files: list[str] = field(default_factory=list)


def erase_request(
    session: Session, *, found: PrivacyRequest, data: ErasureRequest, actor_id: int | None
) -> Erased:
    """Carry out an erasure request: refused unless it is an open erasure request, with
    the identity verified, for a contact still there."""
    if found.kind != RequestKind.ERASURE:
        raise Conflict(N_("Only an erasure request erases a person."))
    if found.status not in OPEN_STATUSES:
        raise Conflict(N_("This request is closed already."))
    if found.identity_verified_at is None:
        raise Conflict(N_("Verify the requester's identity first."))
    contact = session.get(Contact, found.contact_id) if found.contact_id else None
    if contact is None:
        raise Conflict(N_("This request names no contact (any more): there is nothing to erase."))
    erased = erase_contact(
        session,
        contact=contact,
        request_id=found.id,
        keep_consents_on=data.keep_consents_on,
        actor_id=actor_id,
    )
    tombstone, now = erased.tombstone, utcnow()
    found.status, found.closed_at, found.updated_at = RequestStatus.DONE, now, now
    found.outcome = f"Erased: {sum(tombstone.counts.values())} records (tombstone {tombstone.id})."
    audit.save(session, found, actor_id=actor_id, action="privacy_request.erase", fields=[])
    return erased


def erase_contact(
    session: Session,
    *,
    contact: Contact,
    request_id: int | None,
    keep_consents_on: str | None,
    actor_id: int | None,
) -> Erased:
    """Erase one contact. The caller commits, then calls ``after_commit``."""
    contact_id = contact.id
    needles = [contact.name, *contact.emails, *contact.phones]
    counts = {
        kind.name: session.execute(
            select(func.count()).select_from(kind.rows(contact_id).order_by(None).subquery())
        ).scalar_one()
        for kind in KINDS
        if kind.erase != Erase.KEEP
    }
    tombstone = Erasure(
        contact_id=contact_id,
        request_id=request_id,
        by_id=actor_id,
        counts={name: n for name, n in counts.items() if n},
        kept_on=keep_consents_on,
    )
    session.add(tombstone)
    session.flush()
    _settle_deals(session, contact_id, tombstone)
    if keep_consents_on:
        session.execute(
            update(ConsentEvent)
            .where(col(ConsentEvent.contact_id) == contact_id)
            .values(contact_id=None, erasure_id=tombstone.id)
        )
    theirs = col(PrivacyRequest.contact_id) == contact_id
    export_files = list(
        session.execute(
            select(PrivacyRequest.export_file).where(
                theirs, col(PrivacyRequest.export_file).is_not(None)
            )
        ).scalars()
    )
    session.execute(
        update(PrivacyRequest)
        .where(theirs)
        .values(requester_name=ERASED, requester_email=None, notes=None, export_file=None)
    )
    audit.record(
        session,
        actor_id=actor_id,
        action="contact.erase",
        entity_type="contact",
        entity_id=contact_id,
    )
    # Entered again later, they are recognised by keyed hashes alone.
    rights.suppress(session, contact=contact, reason=SuppressionReason.ERASURE)
    # Not linked to the contact row, so not in its cascade: mail waiting for triage.
    session.execute(delete(TriageEntry).where(col(TriageEntry.address).in_(contact.emails)))
    traces = _purge_import_traces(session, contact.emails)
    if traces:
        tombstone.counts = {**tombstone.counts, "import_traces": traces}
    attachment_files = [
        a.stored_name for a in mail_files.stored_of_contact(session, contact_id=contact_id)
    ]
    session.expunge(contact)
    # One statement: the database's cascades take every row about them alone.
    session.execute(delete(Contact).where(col(Contact.id) == contact_id))
    _list_mentions(session, tombstone, needles)
    session.flush()
    return Erased(tombstone, export_files, contact.search_text, attachment_files)


def _purge_import_traces(session: Session, emails: list[str]) -> int:
    """Imported files and problem reports are kept for a while after an import; the
    parts that hold the person's address go now (finished imports only: a running one
    still reads its file)."""
    finished = select(ImportJob.id).where(
        col(ImportJob.status).in_([ImportStatus.DONE, ImportStatus.FAILED])
    )
    gone = 0
    for email in emails:
        gone += session.execute(
            delete(ImportProblem).where(
                func.lower(cast(ImportProblem.cells, String)).contains(email, autoescape=True)
            )
        ).rowcount
        gone += session.execute(
            delete(ImportChunk).where(
                col(ImportChunk.job_id).in_(finished),
                bytes_contain(ImportChunk.data, literal(email, String)),
            )
        ).rowcount
    return gone


def _settle_deals(session: Session, contact_id: int, tombstone: Erasure) -> None:
    """Deals with no company and no other contact: won ones stay for the books without
    any free text, the rest go."""
    others = select(DealContact.deal_id).where(DealContact.contact_id != contact_id)
    alone = select(DealContact.deal_id).where(
        DealContact.contact_id == contact_id, col(DealContact.deal_id).not_in(others)
    )
    theirs = [col(Deal.id).in_(alone), col(Deal.company_id).is_(None)]
    session.execute(
        update(Deal)
        .where(*theirs, Deal.status == DealStatus.WON)
        .values(title=ERASED, notes=None, next_step=None, lost_note=None, erasure_id=tombstone.id)
    )
    session.execute(delete(Deal).where(*theirs, Deal.status != DealStatus.WON))


def _free_text_columns() -> dict[Any, list[Any]]:
    """Each table with an id, and its free-text columns, from the privacy marks."""
    found: dict[Any, list[Any]] = {}
    for table in metadata.sorted_tables:
        if "id" not in table.columns:
            continue
        for column in table.columns:
            # Text, not JSON: AutoString is a decorator of String, not a String.
            textual = isinstance(column.type, String | AutoString)
            if column.info.get("privacy") == Privacy.FREE_TEXT and textual:
                found.setdefault(table, []).append(column)
    return found


def _list_mentions(session: Session, tombstone: Erasure, needles: list[str]) -> None:
    """Record where other records still name the person, ignoring case: one scan per
    table over all its free-text columns (SQLite's LIKE ignores the case of ASCII
    letters by itself, without lower() on every row)."""
    needles = [n.lower() for n in needles if n and len(n) >= 4]
    if not needles:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    patterns = [f"%{n.replace('/', '//').replace('%', '/%').replace('_', '/_')}%" for n in needles]

    def names(column: Any) -> Any:
        match = column.ilike if postgres else column.like
        return or_(*(match(p, escape="/") for p in patterns))

    mentions = []
    for table, columns in _free_text_columns().items():
        if postgres:
            # The planner prices a trigram index by the needle's trigrams, and for an
            # e-mail address (thirty of them) reads the whole table instead (ten million
            # touchpoints at size L): where the free text is indexed, seek.
            seek = "off" if table.name in MENTION_INDEXED else "on"
            session.execute(text(f"SET LOCAL enable_seqscan = {seek}"))
        flags = [case((names(c), literal(c.name)), else_=None) for c in columns]
        query = select(table.c.id, *flags).where(or_(*(names(c) for c in columns)))
        for row_id, *hits in session.execute(query):
            mentions += [
                {
                    "erasure_id": tombstone.id,
                    "table_name": table.name,
                    "row_id": row_id,
                    "column_name": hit,
                }
                for hit in hits
                if hit
            ]
    if postgres:
        session.execute(text("SET LOCAL enable_seqscan = on"))
    if mentions:
        session.execute(insert(ErasureMention), mentions)


def mentions_of(session: Session, *, erasure_id: int) -> list[ErasureMention]:
    query = select(ErasureMention).where(ErasureMention.erasure_id == erasure_id)
    order = [ErasureMention.table_name, ErasureMention.row_id]
    return list(session.execute(query.order_by(*order)).scalars())


def log_erasure(tombstone: Erasure, *, log_path: Path) -> None:
    """After the commit: note the tombstone in the erasure log, a file outside the
    database, so that a restored older backup can be brought up to date."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "erasure_id": tombstone.id,
        "contact_id": tombstone.contact_id,
        "erased_at": tombstone.erased_at.isoformat(),
    }
    with log_path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def scrub_files(engine: Engine, *, wait_ms: int = 1000) -> bool:
    """On SQLite: rewrite the search index, which keeps deleted words until its segments
    are merged, and fold the WAL into the database, whose freed pages secure_delete has
    zeroed. Best effort while others write: what is left, the daily job does."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    driver = raw.driver_connection
    waited = driver.execute("PRAGMA busy_timeout").fetchone()[0]
    try:  # outside any transaction: the driver connection commits each statement
        driver.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        driver.execute("INSERT INTO contact_fts(contact_fts) VALUES ('optimize')")
        busy = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.OperationalError:
        busy = 1
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(waited)}")
        raw.close()
    if busy:
        log.warning("SQLite's files could not be scrubbed now; the daily job will do it")
    return not busy


def after_commit(
    engine: Engine, erased: Erased, *, log_path: Path, export_dir: Path, attachment_dir: Path
) -> None:
    """Log the tombstone, delete the person's exports and the files of their mails'
    attachments, forget their search words, scrub SQLite's files."""
    log_erasure(erased.tombstone, log_path=log_path)
    for name in erased.export_files:
        (export_dir / name).unlink(missing_ok=True)
    for name in erased.attachment_files:
        (attachment_dir / name).unlink(missing_ok=True)
    forget_words(engine, erased)
    scrub_files(engine)


def forget_words(engine: Engine, erased: Erased, *, wait_ms: int = 1000) -> None:
    """PostgreSQL: drop the words of the person's search text that nobody else uses, in
    a transaction of its own: the lock it takes waits for contact writers, which inside
    the erasure's transaction could deadlock with one waiting for the erasure. Best
    effort while others write: what is left, the daily job drops."""
    try:
        with job_session(engine) as session:
            search.forget_words(session, search_text=erased.search_text, wait_ms=wait_ms)
    except OperationalError:
        log.warning("the erased contact's search words are left to the daily job")


def logged_erasures(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.exists():
        return []
    with log_path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def replay(session: Session, *, entries: list[dict[str, Any]]) -> list[Erased]:
    """Erase again the contacts of logged erasures that are back (after restoring an
    older backup); those not there are left alone. The caller commits."""
    done = []
    for entry in entries:
        contact = session.get(Contact, entry["contact_id"])
        if contact is not None:
            done.append(
                erase_contact(
                    session, contact=contact, request_id=None, keep_consents_on=None, actor_id=None
                )
            )
    return done


def of_request(session: Session, *, request_id: int) -> Erasure | None:
    return (
        session.execute(select(Erasure).where(Erasure.request_id == request_id)).scalars().first()
    )


def public(session: Session, tombstone: Erasure) -> ErasurePublic:
    mentions = [
        ErasureMentionPublic.model_validate(m)
        for m in mentions_of(session, erasure_id=tombstone.id)
    ]
    return ErasurePublic.model_validate(tombstone, update={"mentions": mentions})


def mark_redacted(session: Session, *, mention_id: int, actor_id: int | None) -> ErasureMention:
    mention = session.get(ErasureMention, mention_id)
    if mention is None:
        raise NotFound(N_("No such mention."))
    mention.redacted_at = mention.redacted_at or utcnow()
    return audit.save(session, mention, actor_id=actor_id, action="erasure_mention.redacted")
