"""Turning read mail into touchpoints: matched to contacts by every address in From, To
and Cc, threaded by Message-ID; a mail that matches nobody waits in the triage inbox."""

import hashlib
import hmac
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.contacts.models import Contact, ContactEmail
from crm.core.db import utcnow
from crm.core.settings import get_settings
from crm.gdpr.keys import person_keys
from crm.mail import files as mail_files
from crm.mail.models import (
    IgnoredSender,
    Mailbox,
    MailMessage,
    MailReceipt,
    TriageEntry,
)
from crm.mail.models import (
    MailAttachment as AttachmentRow,
)
from crm.mail.parsing import Attachment, ParsedMail
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Direction, Initiator, Touchpoint, TouchpointCreate
from crm.users.models import User

NO_SUBJECT = "(no subject)"


def _key(kind: str, value: str) -> str:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def message_key(mail: ParsedMail) -> str:
    """What makes two copies of a mail one: its Message-ID, or for a mail without one,
    its sender, date, subject and size."""
    if mail.message_id:
        return _key("message", mail.message_id)
    return _key("unnamed", f"{mail.from_address}|{mail.date}|{mail.subject}|{mail.size_bytes}")


def thread_key(mail: ParsedMail) -> str:
    return _key("thread", mail.thread_root) if mail.thread_root else message_key(mail)


def internal_addresses(session: Session) -> dict[str, int | None]:
    """Our own addresses (users' and mailboxes'), each with the user it belongs to: a
    personal mailbox's is its owner's, a shared one's nobody's."""
    found: dict[str, int | None] = {
        address.lower(): owner_id
        for address, owner_id in session.exec(select(Mailbox.address, Mailbox.owner_id))
    }
    found.update((email.lower(), id_) for id_, email in session.exec(select(User.id, User.email)))
    return found


class Capture:
    """Capture one batch of mail from one mailbox: one query finds every contact the
    batch names, one which of its mails were already read."""

    def __init__(
        self,
        session: Session,
        *,
        mailbox: Mailbox | None,
        mails: list[ParsedMail],
        files: Path | None = None,
        triaged: bool = False,
    ):
        self.session = session
        # Where the attachment files that came with the mail are kept.
        self.files = files
        # Mail taken out of the triage inbox was received, and its receipt kept, before.
        self.fresh = not triaged
        self.mailbox = mailbox
        self.mails = mails
        self.internal = internal_addresses(session)
        addresses = set().union(*(m.addresses for m in mails)) - self.internal.keys()
        self.contacts = _contacts_by_address(session, addresses)
        self.seen = _received(session, {message_key(m) for m in mails}) if self.fresh else set()
        senders = {m.from_address for m in mails if m.from_address}
        self.ignored = _ignored(session, senders)
        self.threads = known_threads(session, {r for m in mails for r in m.references})
        self.matched: list[Matched] = []
        self.touchpoints = 0
        self.triaged = 0

    def thread_of(self, mail: ParsedMail) -> str:
        """The conversation of a mail it answers, where that mail is known (a client may
        send only In-Reply-To); else its own first Message-ID's."""
        known = (self.threads[r] for r in reversed(mail.references) if r in self.threads)
        return next(known, None) or thread_key(mail)

    def run(self) -> None:
        for mail in self.mails:
            if self.fresh:
                key = message_key(mail)
                if key in self.seen:
                    continue
                self.seen.add(key)
                mailbox_id = self.mailbox.id if self.mailbox else None
                self.session.add(MailReceipt(message_key=key, mailbox_id=mailbox_id))
            self._take(mail)
        record(self.session, self.matched, mailbox=self.mailbox, files=self.files)
        self.session.flush()

    def _take(self, mail: ParsedMail) -> None:
        outbound = mail.from_address in self.internal
        if not outbound and mail.from_address in self.ignored:
            return
        matched = {
            self.contacts[a].id: self.contacts[a]
            for a in (mail.from_address, *mail.to, *mail.cc)
            if a in self.contacts
        }
        if matched:
            initiator = (
                Initiator.COMPANY
                if outbound
                else Initiator.CUSTOMER
                if mail.from_address in self.contacts
                else Initiator.THIRD_PARTY
            )
            for contact in matched.values():
                if contact.restricted_at is None:  # Art. 18: nothing about them changes
                    self.touchpoints += 1
                    self.matched.append(
                        Matched(
                            mail=mail,
                            contact_id=contact.id,
                            outbound=outbound,
                            initiator=initiator,
                            actor_id=self.internal.get(mail.from_address) if outbound else None,
                            thread=self.thread_of(mail),
                        )
                    )
            return
        party = _outside_party(mail, self.internal) if outbound else mail.from_address
        if outbound and party is None:
            return  # between colleagues: nobody's journey
        self.triaged += 1
        self.session.add(
            TriageEntry(
                mailbox_id=self.mailbox.id if self.mailbox else None,
                address=party or "",
                name="" if outbound else mail.from_name,
                outbound=outbound,
                occurred_at=mail.date,
                subject=mail.subject[:500],
                mail=_stored(mail),
            )
        )


def known_threads(session: Session, message_ids: set[str]) -> dict[str, str]:
    if not message_ids:
        return {}
    query = select(MailMessage.message_id, MailMessage.thread_key).where(
        col(MailMessage.message_id).in_(message_ids)
    )
    return dict(session.exec(query).all())


def _contacts_by_address(session: Session, addresses: set[str]) -> dict[str, Contact]:
    if not addresses:
        return {}
    query = (
        select(ContactEmail.email, Contact)
        .join(Contact, col(Contact.id) == ContactEmail.contact_id)
        .where(col(ContactEmail.email).in_(addresses))
    )
    return dict(session.exec(query).all())


def _received(session: Session, keys: set[str]) -> set[str]:
    query = select(MailReceipt.message_key).where(col(MailReceipt.message_key).in_(keys))
    return set(session.exec(query)) if keys else set()


def _ignored(session: Session, senders: set[str]) -> set[str]:
    by_key = dict(zip(person_keys(senders, []), senders, strict=True))
    if not by_key:
        return set()
    query = select(IgnoredSender.address_key).where(col(IgnoredSender.address_key).in_(by_key))
    return {by_key[k] for k in session.exec(query)}


def _outside_party(mail: ParsedMail, internal: dict[str, int | None]) -> str | None:
    return next((a for a in (*mail.to, *mail.cc) if a not in internal), None)


def _stored(mail: ParsedMail) -> dict:
    """The parsed mail as JSON, to make a touchpoint of it later."""
    stored = asdict(mail)
    stored["date"] = mail.date.isoformat()
    # Mail from a stranger keeps its attachments' names and sizes only.
    for attachment in stored["attachments"]:
        attachment.pop("content", None)
    return stored


def restored(stored: dict) -> ParsedMail:
    values = dict(stored)
    values["date"] = datetime.fromisoformat(values["date"])
    values["attachments"] = [Attachment(**a) for a in values["attachments"]]
    values.setdefault("references", [])
    return ParsedMail(**values)


@dataclass(frozen=True)
class Matched:
    """A mail and one contact whose timeline it goes on."""

    mail: ParsedMail
    contact_id: int
    outbound: bool
    initiator: Initiator
    actor_id: int | None
    thread: str


def record(
    session: Session, matched: list[Matched], *, mailbox: Mailbox | None, files: Path | None = None
) -> list[Touchpoint]:
    """The mails as touchpoints on the contacts' timelines, in the phases they were in;
    attachment files that came with them are kept in ``files``."""
    touchpoints = touchpoint_service.log_touchpoints(
        session,
        entries=[
            (
                TouchpointCreate(
                    contact_id=m.contact_id,
                    channel="email",
                    direction=Direction.OUTBOUND if m.outbound else Direction.INBOUND,
                    initiated_by=m.initiator,
                    occurred_at=min(m.mail.date, utcnow()),
                    summary=m.mail.subject[:500] or NO_SUBJECT,
                    notes=m.mail.text or None,
                ),
                m.actor_id,
            )
            for m in matched
        ],
    )
    for m, touchpoint in zip(matched, touchpoints, strict=True):
        mail = m.mail
        session.add(
            MailMessage(
                touchpoint_id=touchpoint.id,
                message_id=mail.message_id,
                thread_key=m.thread,
                from_address=mail.from_address,
                from_name=mail.from_name,
                to_addresses=mail.to,
                cc_addresses=mail.cc,
                quoted=mail.quoted or None,
                size_bytes=mail.size_bytes,
                is_stub=mail.is_stub,
                mailbox_id=mailbox.id if mailbox else None,
            )
        )
        session.add_all(
            AttachmentRow(
                touchpoint_id=touchpoint.id,
                filename=a.filename,
                content_type=a.content_type,
                size_bytes=a.size_bytes,
                stored_name=mail_files.store(files, a.content) if files and a.content else None,
            )
            for a in mail.attachments
        )
    return touchpoints


def mail_counts(session: Session, *, mailbox_ids: list[int]) -> dict[int, int]:
    query = (
        select(MailReceipt.mailbox_id, func.count())
        .where(col(MailReceipt.mailbox_id).in_(mailbox_ids))
        .group_by(MailReceipt.mailbox_id)
    )
    return dict(session.exec(query).all())
