"""The export of a data subject's records (Art. 15 and 20): a ZIP with one JSON and one
CSV file per kind of record, a manifest with their SHA-256 and the Art. 15(1)
information, and a README to read. Written row by row to a file on disk, so that a
contact with a hundred thousand touchpoints exports in little memory."""

import hashlib
import io
import json
import secrets
import shutil
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, update
from sqlmodel import Session, col, select

from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, NotFound
from crm.core.exports import csv_lines
from crm.core.i18n import translations
from crm.core.templating import environment
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import LEGAL_BASIS_NAMES, PrivacyRequest
from crm.gdpr.subject import KINDS
from crm.mail import files as mail_files

EXPORT_KEPT = timedelta(days=7)
BATCH = 500

RIGHTS = [
    N_("to be told what data is held about you and why (Art. 15)"),
    N_("to have wrong data corrected (Art. 16)"),
    N_("to have your data erased (Art. 17)"),
    N_("to have the processing restricted (Art. 18)"),
    N_("to receive your data in a machine-readable form (Art. 20)"),
    N_("to object to the processing, and to direct marketing at any time (Art. 21)"),
    N_("to withdraw a consent at any time, with effect for the future (Art. 7(3))"),
    N_("to complain to a data protection supervisory authority (Art. 77)"),
]


class _Hashing(io.RawIOBase):
    """Passes bytes on to a ZIP entry and keeps their SHA-256 and size."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def entry(self, name: str, rows: int) -> dict[str, Any]:
        """The manifest's line for the file written."""
        return {"name": name, "rows": rows, "bytes": self.size, "sha256": self.digest.hexdigest()}

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(session: Session, query: Select[Any]) -> Any:
    return session.execute(query.execution_options(yield_per=BATCH))


def _write_json(archive: zipfile.ZipFile, session: Session, name: str, query: Select[Any]) -> dict:
    with archive.open(f"{name}.json", "w") as entry:
        out = _Hashing(entry)
        out.write(b"[")
        count = 0
        for row in _rows(session, query):
            text = json.dumps({k: _plain(v) for k, v in row._mapping.items()}, ensure_ascii=False)
            out.write(((",\n" if count else "\n") + text).encode())
            count += 1
        out.write(b"\n]\n")
    return out.entry(f"{name}.json", count)


def _write_csv(archive: zipfile.ZipFile, session: Session, name: str, query: Select[Any]) -> dict:
    """The same rows as CSV that spreadsheets open safely (the contact list's export)."""
    header = [c.key for c in query.selected_columns]
    rows = ([_plain(v) for v in row] for row in _rows(session, query))
    written = 0
    with archive.open(f"{name}.csv", "w") as entry:
        out = _Hashing(entry)
        for line in csv_lines(header, rows):
            out.write(line.encode())
            written += 1
    return out.entry(f"{name}.csv", written - 1)  # less the header


def _write_attachments(
    archive: zipfile.ZipFile, session: Session, contact_id: int, folder: Path
) -> list[dict[str, Any]]:
    """The kept files of their mails, each under attachments/ as its id and name (the
    mail_attachments file says which mail it came with)."""
    written = []
    for attachment in mail_files.stored_of_contact(session, contact_id=contact_id):
        path = folder / (attachment.stored_name or "")
        if not path.is_file():
            continue
        name = f"attachments/{attachment.id}-{attachment.filename.replace('/', '_')}"
        with archive.open(name, "w") as entry, path.open("rb") as source:
            out = _Hashing(entry)
            shutil.copyfileobj(source, out)
        written.append(out.entry(name, 1))
    return written


def _information(session: Session) -> list[dict[str, Any]]:
    """Art. 15(1): the purposes, categories, recipients, retention and source."""
    return [
        {
            "purpose": p.name,
            "description": p.description,
            "legal_basis": LEGAL_BASIS_NAMES[p.legal_basis],
            "data_categories": p.data_categories,
            "recipients": p.recipients,
            "retention_months": p.retention_months,
            "source": p.source,
        }
        for p in gdpr_service.list_purposes(session, active_only=True)
    ]


def write_export(
    session: Session,
    *,
    found: PrivacyRequest,
    directory: Path,
    actor_id: int | None,
    attachments: Path,
    language: str = "en",
) -> Path:
    """Write the export of the request's contact, and note it on the request; with the
    files of their mails' attachments kept in ``attachments``."""
    if found.contact_id is None:
        raise Conflict(N_("This request names no contact (any more): there is nothing to export."))
    contact = session.get(Contact, found.contact_id)
    if contact is None:
        raise NotFound(N_("No such contact."))
    directory.mkdir(parents=True, exist_ok=True)
    name = f"request-{found.id}-{secrets.token_urlsafe(12)}.zip"
    partial = directory / (name + ".part")
    now = utcnow()
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        files = []
        for kind in KINDS:
            query = kind.rows(contact.id)
            files += [_write_json(archive, session, kind.name, query)]
            files += [_write_csv(archive, session, kind.name, query)]
        files += _write_attachments(archive, session, contact.id, attachments)
        manifest = {
            "request": {
                "id": found.id,
                "kind": found.kind,
                "received_at": found.received_at.isoformat(),
                "exported_at": now.isoformat(),
            },
            "subject": {"contact_id": contact.id},
            "files": files,
            "information": _information(session),
            "rights": RIGHTS,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        readme = environment.get_template("gdpr/export_readme.html").render(
            manifest=manifest,
            contact=contact,
            language=language,
            translations=translations(language),
        )
        archive.writestr("README.html", readme)
    path = partial.rename(directory / name)
    if found.export_file:
        (directory / found.export_file).unlink(missing_ok=True)
    found.export_file, found.exported_at = name, now
    audit.save(session, found, actor_id=actor_id, action="privacy_request.export", fields=[])
    return path


def export_path(found: PrivacyRequest, *, directory: Path) -> Path:
    """The request's export while it may still be downloaded."""
    if not found.export_file or not found.exported_at or found.exported_at < utcnow() - EXPORT_KEPT:
        raise NotFound(N_("The export has expired or was never made; make a new one."))
    path = directory / found.export_file
    if not path.exists():
        raise NotFound(N_("The export has expired or was never made; make a new one."))
    return path


def purge_exports(session: Session, *, directory: Path) -> int:
    """Delete export files older than a week (and any a failed export left behind)."""
    stale = utcnow() - EXPORT_KEPT
    expired = session.exec(
        select(PrivacyRequest).where(
            col(PrivacyRequest.export_file).is_not(None), PrivacyRequest.exported_at < stale
        )
    ).all()
    for found in expired:
        (directory / found.export_file).unlink(missing_ok=True)
    session.execute(
        update(PrivacyRequest)
        .where(col(PrivacyRequest.id).in_([f.id for f in expired]))
        .values(export_file=None)
    )
    if directory.exists():
        for leftover in directory.glob("*.part"):
            leftover.unlink(missing_ok=True)
    return len(expired)
