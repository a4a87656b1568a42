"""Mailboxes (their settings and state), the triage inbox of mail from unknown senders,
and the mails shown on a timeline."""

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.contacts.models import Contact, ContactCreate, ContactUpdate
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.pagination import keyset_page
from crm.core.sealing import seal
from crm.core.settings import Settings
from crm.gdpr.keys import person_keys
from crm.mail.capture import Capture, mail_counts, restored
from crm.mail.models import (
    AttachmentPublic,
    ErrorText,
    IgnoredSender,
    MailAttachment,
    Mailbox,
    MailboxCreate,
    MailboxFolder,
    MailboxKind,
    MailboxPublic,
    MailboxUpdate,
    MailMessage,
    MailPublic,
    MailReadResult,
    OutboxMail,
    OwnMailbox,
    TriageEntry,
    TriagePublic,
)
from crm.mail.reading import PASSWORD_PURPOSE, read_mailbox
from crm.touchpoints.models import Touchpoint
from crm.users.models import User

# --- mailboxes -----------------------------------------------------------------------


def list_mailboxes(session: Session) -> list[Mailbox]:
    return list(session.exec(select(Mailbox).order_by(col(Mailbox.name), col(Mailbox.id))))


def get_mailbox(session: Session, *, mailbox_id: int) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(N_("No such mailbox."))
    return mailbox


def public(session: Session, mailboxes: list[Mailbox]) -> list[MailboxPublic]:
    counts = mail_counts(session, mailbox_ids=[m.id for m in mailboxes])
    return [
        MailboxPublic.model_validate(m, update={"messages": counts.get(m.id, 0)}) for m in mailboxes
    ]


def _check(session: Session, mailbox: Mailbox) -> None:
    if mailbox.kind == MailboxKind.PERSONAL:
        if mailbox.owner_id is None:
            raise Invalid(N_("A personal mailbox belongs to a user: choose one."), field="owner_id")
        if session.get(User, mailbox.owner_id) is None:
            raise Invalid(N_("No such user."), field="owner_id")
    else:
        mailbox.owner_id = None
    mailbox.address = mailbox.address.strip().lower()
    if "@" not in mailbox.address:
        raise Invalid(N_("Enter a valid e-mail address."), field="address")
    taken = select(Mailbox.id).where(
        func.lower(Mailbox.address) == mailbox.address, col(Mailbox.id) != (mailbox.id or 0)
    )
    if session.exec(taken).first() is not None:
        raise Conflict(N_("Another mailbox reads this address already."))


def create_mailbox(
    session: Session, *, data: MailboxCreate, secret_key: str, actor_id: int | None
) -> Mailbox:
    values = data.model_dump(exclude={"password"}, exclude_none=True)
    mailbox = Mailbox(
        **values,
        password_sealed=seal(data.password, secret_key=secret_key, purpose=PASSWORD_PURPOSE),
    )
    _check(session, mailbox)
    return audit.save(
        session, mailbox, actor_id=actor_id, action="mailbox.create", fields=values.keys()
    )


def update_mailbox(
    session: Session,
    *,
    mailbox: Mailbox,
    data: MailboxUpdate,
    secret_key: str,
    actor_id: int | None,
) -> Mailbox:
    changes = data.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    for required in ("name", "address", "host", "username", "port", "security", "folders"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    mailbox.sqlmodel_update({k: v for k, v in changes.items() if v is not None or k == "owner_id"})
    if password:
        mailbox.password_sealed = seal(password, secret_key=secret_key, purpose=PASSWORD_PURPOSE)
        changes["password"] = True  # the audit names the field, never the value
    if changes.keys() & {"host", "port", "username", "password", "security"}:
        # The next run tells whether the new settings work.
        mailbox.last_error, mailbox.last_problems = None, []
    _check(session, mailbox)
    return audit.save(
        session, mailbox, actor_id=actor_id, action="mailbox.update", fields=changes.keys()
    )


def own_mailbox(session: Session, *, user: User) -> Mailbox | None:
    query = select(Mailbox).where(Mailbox.kind == MailboxKind.PERSONAL, Mailbox.owner_id == user.id)
    return session.exec(query.order_by(col(Mailbox.id))).first()


def save_own_mailbox(session: Session, *, user: User, data: OwnMailbox, secret_key: str) -> Mailbox:
    """A user connects their own mailbox, or changes its settings."""
    mailbox = own_mailbox(session, user=user)
    if mailbox is not None:
        return update_mailbox(
            session,
            mailbox=mailbox,
            data=MailboxUpdate(**data.model_dump(exclude_unset=True)),
            secret_key=secret_key,
            actor_id=user.id,
        )
    values = data.model_dump(exclude_none=True)
    for required in ("address", "host", "username", "password"):
        if required not in values:
            raise Invalid(N_("This field is required."), field=required)
    return create_mailbox(
        session,
        data=MailboxCreate(
            **values, name=user.name[:120], kind=MailboxKind.PERSONAL, owner_id=user.id
        ),
        secret_key=secret_key,
        actor_id=user.id,
    )


def delete_mailbox(session: Session, *, mailbox: Mailbox, actor_id: int | None) -> None:
    """The mailbox goes; the touchpoints made from its mail stay."""
    audit.delete(session, mailbox, actor_id=actor_id, action="mailbox.delete")


def read_now(session: Session, *, mailbox: Mailbox, settings: Settings) -> MailReadResult:
    """Read one mailbox in the caller's transaction (an admin's "read now")."""
    result = MailReadResult.of(mailbox)
    # Run the reading to its end: one transaction, so its chunks need no commit of their own.
    deque(read_mailbox(session, mailbox=mailbox, settings=settings, result=result), maxlen=0)
    return result


def record_failure(session: Session, *, mailbox_id: int) -> None:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is not None:
        mailbox.checked_at = utcnow()
        problem = ErrorText(
            message=N_("Reading stopped on an unexpected error: see the server's log."), params={}
        )
        mailbox.last_error, mailbox.last_problems = str(problem), [problem.model_dump()]
        session.add(mailbox)


def folder_states(session: Session, *, mailbox: Mailbox) -> list[MailboxFolder]:
    query = select(MailboxFolder).where(MailboxFolder.mailbox_id == mailbox.id)
    return list(session.exec(query.order_by(col(MailboxFolder.name))))


# --- the triage inbox ----------------------------------------------------------------


def list_triage(
    session: Session, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[TriageEntry], str | None]:
    query = select(TriageEntry)
    keys = [col(TriageEntry.received_at), col(TriageEntry.id)]
    return keyset_page(session, query, keys, descending=True, cursor=cursor, limit=limit)


def get_entry(session: Session, *, entry_id: int) -> TriageEntry:
    entry = session.get(TriageEntry, entry_id)
    if entry is None:
        raise NotFound(N_("This mail is no longer in the triage inbox."))
    return entry


def entry_public(entry: TriageEntry) -> TriagePublic:
    return TriagePublic.model_validate(entry, update={"text": entry.mail.get("text", "")})


def _entries_of(session: Session, address: str) -> list[TriageEntry]:
    query = select(TriageEntry).where(col(TriageEntry.address) == address.lower())
    return list(session.exec(query.order_by(col(TriageEntry.occurred_at))))


def _take(session: Session, entries: list[TriageEntry]) -> int:
    """Make touchpoints of the entries now that their party is a contact."""
    capture = Capture(
        session, mailbox=None, mails=[restored(e.mail) for e in entries], triaged=True
    )
    for entry in entries:
        session.delete(entry)
    session.flush()
    capture.run()
    return capture.touchpoints


def create_contact_from(
    session: Session, *, entry: TriageEntry, data: ContactCreate, actor_id: int | None
) -> tuple[Contact, int]:
    """A contact for the entry's party; their waiting mails become touchpoints."""
    if entry.address not in data.emails:
        data = data.model_copy(update={"emails": [entry.address, *data.emails]})
    contact = contact_service.create_contact(session, data=data, actor_id=actor_id)
    return contact, _take(session, _entries_of(session, entry.address))


def link_to_contact(
    session: Session, *, entry: TriageEntry, contact_id: int, actor_id: int | None
) -> tuple[Contact, int]:
    """The party's address is added to an existing contact, and their waiting mails
    become that contact's touchpoints."""
    contact = contact_service.get_contact(session, contact_id=contact_id)
    if entry.address and entry.address not in contact.emails:
        contact_service.update_contact(
            session,
            contact=contact,
            data=ContactUpdate(emails=[*contact.emails, entry.address]),
            actor_id=actor_id,
        )
    return contact, _take(session, _entries_of(session, entry.address))


def ignore_sender(session: Session, *, entry: TriageEntry, actor_id: int | None) -> int:
    """Their mail is never kept again, and what waits of it goes now."""
    entries = _entries_of(session, entry.address) if entry.address else [entry]
    if entry.address:
        key = person_keys([entry.address], [])[0]
        if (
            session.exec(select(IgnoredSender).where(IgnoredSender.address_key == key)).first()
            is None
        ):
            session.add(IgnoredSender(address_key=key))
    for found in entries:
        session.delete(found)
    audit.record(
        session,
        actor_id=actor_id,
        action="mail.ignore_sender",
        entity_type="mail_triage",
        entity_id=entry.id,
    )
    session.flush()
    return len(entries)


def purge_triage(session: Session, *, before: datetime) -> int:
    """Mail that waited longer than the DPO allows goes unread."""
    gone = delete(TriageEntry).where(col(TriageEntry.received_at) < before)
    return session.execute(gone).rowcount


def triage_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(TriageEntry)).one()


# --- mail on the timeline ------------------------------------------------------------


@dataclass
class MailView:
    message: MailMessage
    attachments: list[MailAttachment] = field(default_factory=list)
    # For a mail we send: whether it went out.
    outgoing: OutboxMail | None = None


@dataclass
class Conversations:
    """The mails of one timeline page: each conversation is shown at its newest mail,
    with the earlier ones of the page folded into it."""

    mails: dict[int, MailView]
    earlier: dict[int, list[Touchpoint]]

    def fold(self, entries: list[Any]) -> list[Any]:
        """Timeline entries (newest first) without the mails folded into a newer one."""
        heads: dict[str, int] = {}
        shown = []
        for entry in entries:
            view = self.mails.get(entry.id) if isinstance(entry, Touchpoint) else None
            if view is None:
                shown.append(entry)
            elif (head := heads.get(view.message.thread_key)) is not None:
                self.earlier.setdefault(head, []).append(entry)
            else:
                heads[view.message.thread_key] = entry.id
                shown.append(entry)
        return shown


def conversations(session: Session, *, touchpoints: list[Touchpoint]) -> Conversations:
    ids = [t.id for t in touchpoints]
    mails: dict[int, MailView] = {}
    if ids:
        found = session.exec(select(MailMessage).where(col(MailMessage.touchpoint_id).in_(ids)))
        mails = {m.touchpoint_id: MailView(m) for m in found}
    if mails:
        query = select(MailAttachment).where(col(MailAttachment.touchpoint_id).in_(mails))
        for attachment in session.exec(query.order_by(col(MailAttachment.id))):
            mails[attachment.touchpoint_id].attachments.append(attachment)
        query = select(OutboxMail).where(col(OutboxMail.touchpoint_id).in_(mails))
        for outgoing in session.exec(query):
            mails[outgoing.touchpoint_id].outgoing = outgoing
    return Conversations(mails=mails, earlier={})


def mail_of(session: Session, *, touchpoint: Touchpoint) -> MailPublic:
    message = session.get(MailMessage, touchpoint.id)
    if message is None:
        raise NotFound(N_("This touchpoint is not a mail."))
    query = select(MailAttachment).where(MailAttachment.touchpoint_id == touchpoint.id)
    attachments = [
        AttachmentPublic.model_validate(a, update={"stored": a.stored_name is not None})
        for a in session.exec(query.order_by(col(MailAttachment.id)))
    ]
    return MailPublic.model_validate(message, update={"attachments": attachments})


def split_name(name: str) -> tuple[str, str]:
    """A sender's display name as first and last name, for the triage form to offer."""
    words = name.replace('"', "").split()
    if not words:
        return "", ""
    return " ".join(words[:-1]) or words[0], words[-1] if len(words) > 1 else ""
