"""Attachment files, kept only where an admin turned that on for a mailbox: in
var/attachments under random names, read back for a download and the Art. 15 export,
and deleted with their mail (the erasure at once, anything else by the daily sweep)."""

import secrets
import time
from pathlib import Path

from sqlmodel import Session, col, select

from crm.core.errors import N_, NotFound
from crm.core.settings import Settings
from crm.mail.models import MailAttachment
from crm.touchpoints.models import Touchpoint

# A file younger than this may belong to a transaction still open: the sweep leaves it.
SWEEP_AFTER_SECONDS = 24 * 3600


def directory(settings: Settings) -> Path:
    return settings.var_dir / "attachments"


def store(folder: Path, content: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    (folder / name).write_bytes(content)
    return name


def file_of(folder: Path, attachment: MailAttachment) -> Path:
    path = folder / attachment.stored_name if attachment.stored_name else None
    if path is None or not path.is_file():
        raise NotFound(N_("This attachment's file is not kept: only its name and size are."))
    return path


def get_attachment(
    session: Session, *, touchpoint: Touchpoint, attachment_id: int
) -> MailAttachment:
    attachment = session.get(MailAttachment, attachment_id)
    if attachment is None or attachment.touchpoint_id != touchpoint.id:
        raise NotFound(N_("No such attachment."))
    return attachment


def stored_of_contact(session: Session, *, contact_id: int) -> list[MailAttachment]:
    """The kept files of a contact's mails, for their export and their erasure."""
    query = (
        select(MailAttachment)
        .join(Touchpoint, col(Touchpoint.id) == MailAttachment.touchpoint_id)
        .where(Touchpoint.contact_id == contact_id, col(MailAttachment.stored_name).is_not(None))
        .order_by(col(MailAttachment.id))
    )
    return list(session.exec(query))


def sweep(session: Session, *, folder: Path) -> int:
    """Delete the files no attachment names any more (their mail was deleted, or the
    transaction that kept them rolled back): returns how many went."""
    if not folder.is_dir():
        return 0
    known = set(
        session.exec(
            select(MailAttachment.stored_name).where(col(MailAttachment.stored_name).is_not(None))
        )
    )
    stale = time.time() - SWEEP_AFTER_SECONDS
    gone = 0
    for path in folder.iterdir():
        if path.name not in known and path.stat().st_mtime < stale:
            path.unlink(missing_ok=True)
            gone += 1
    return gone
