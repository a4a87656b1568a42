"""E-mail: the mailboxes the CRM reads, the mails it turned into touchpoints, and the
mails from unknown senders that wait to be triaged."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, field_validator
from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.schemas import Strict, blank_is_none


class MailboxKind(StrEnum):
    SHARED = "shared"  # a team address, such as sales@
    PERSONAL = "personal"  # one user's own address


class Security(StrEnum):
    SSL = "ssl"  # TLS from the first byte (port 993)
    STARTTLS = "starttls"
    NONE = "none"  # only for a server on the same machine or network


class Mailbox(SQLModel, table=True):
    __tablename__ = "mailbox"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=120)
    kind: str = column(Privacy.NONE, default=MailboxKind.SHARED, max_length=16)
    # A personal mailbox's user: their mails are logged by them.
    owner_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    # The address its mails come from: a mail from it is outbound.
    address: str = column(Privacy.PERSONAL, max_length=254)
    host: str = column(Privacy.NONE, max_length=253)
    port: int = column(Privacy.NONE, default=993)
    security: str = column(Privacy.NONE, default=Security.SSL, max_length=16)
    username: str = column(Privacy.PERSONAL, max_length=254)
    password_sealed: str = column(Privacy.SECRET, max_length=1000)
    folders: list[str] = column(Privacy.NONE, default_factory=lambda: ["INBOX"], sa_type=JSON)
    # At most this many messages per folder and run: a large backlog is read over runs.
    batch_size: int = column(Privacy.NONE, default=500)
    # Attachment files are kept only where an admin says so, each up to the limit.
    keep_attachments: bool = column(Privacy.NONE, default=False)
    attachment_max_mb: int = column(Privacy.NONE, default=5)
    is_active: bool = column(Privacy.NONE, default=True)
    checked_at: datetime | None = timestamp(default=None)
    # What went wrong on the last run, shown to admins until a run succeeds: in English,
    # and as messages with their parameters, shown in the reader's language.
    last_error: str | None = column(Privacy.NONE, default=None, max_length=1000)
    last_problems: list[dict] = column(Privacy.NONE, default_factory=list, sa_type=JSON)
    created_at: datetime = timestamp(default_factory=utcnow)


class MailboxFolder(SQLModel, table=True):
    """How far a folder has been read: UIDs are only comparable within one UIDVALIDITY."""

    __tablename__ = "mailbox_folder"
    __table_args__ = (UniqueConstraint("mailbox_id", "name"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    mailbox_id: int = column(Privacy.NONE, foreign_key="mailbox.id", ondelete="CASCADE")
    name: str = column(Privacy.NONE, max_length=200)
    uidvalidity: int = column(Privacy.NONE, sa_type=BigInteger)
    last_uid: int = column(Privacy.NONE, default=0, sa_type=BigInteger)


class MailReceipt(SQLModel, table=True):
    """A message the CRM has read, by a keyed hash of its Message-ID: the same mail in two
    mailboxes, or read again after a folder was rebuilt, is taken once."""

    __tablename__ = "mail_receipt"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    message_key: str = column(Privacy.NONE, max_length=64, unique=True)
    mailbox_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="mailbox.id", ondelete="SET NULL"
    )
    received_at: datetime = timestamp(default_factory=utcnow)


class MailMessage(SQLModel, table=True):
    """The mail behind an e-mail touchpoint: its summary is the subject, its notes the
    text. One mail to two contacts is a touchpoint on each timeline."""

    __tablename__ = "mail_message"
    __table_args__ = (
        Index("ix_mail_message_thread", "thread_key"),
        # A reply names the mail it answers by its Message-ID.
        Index("ix_mail_message_message_id", "message_id"),
    )

    touchpoint_id: int = column(
        Privacy.NONE, foreign_key="touchpoint.id", ondelete="CASCADE", primary_key=True
    )
    message_id: str = column(Privacy.PERSONAL, max_length=998)
    # A keyed hash of the conversation's first Message-ID: replies share it.
    thread_key: str = column(Privacy.NONE, max_length=64)
    from_address: str = column(Privacy.PERSONAL, max_length=254)
    from_name: str = column(Privacy.PERSONAL, default="", max_length=200)
    to_addresses: list[str] = column(Privacy.PERSONAL, default_factory=list, sa_type=JSON)
    cc_addresses: list[str] = column(Privacy.PERSONAL, default_factory=list, sa_type=JSON)
    # The quoted reply and signature cut from the notes, shown collapsed.
    quoted: str | None = column(Privacy.FREE_TEXT, default=None, max_length=100_000)
    size_bytes: int = column(Privacy.NONE, default=0)
    # Larger than the limit: kept with its headers and size only.
    is_stub: bool = column(Privacy.NONE, default=False)
    mailbox_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="mailbox.id", ondelete="SET NULL"
    )


class MailAttachment(SQLModel, table=True):
    __tablename__ = "mail_attachment"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    touchpoint_id: int = column(
        Privacy.NONE, foreign_key="touchpoint.id", ondelete="CASCADE", index=True
    )
    filename: str = column(Privacy.FREE_TEXT, max_length=255)
    content_type: str = column(Privacy.NONE, max_length=255)
    size_bytes: int = column(Privacy.NONE)
    # The file under var/attachments where its mailbox keeps files: a random name, so
    # that it says nothing; the export carries the file, the erasure deletes it.
    stored_name: str | None = column(Privacy.NONE, default=None, max_length=64, unique=True)


class TriageEntry(SQLModel, table=True):
    """A mail that matched no contact: it waits until someone creates a contact for its
    sender, links it to one, or ignores the sender; and is deleted after the days the
    DPO set."""

    __tablename__ = "mail_triage"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    mailbox_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="mailbox.id", ondelete="SET NULL"
    )
    # The outside party: the sender of an inbound mail, the first recipient of an outbound.
    address: str = column(Privacy.PERSONAL, max_length=254, index=True)
    name: str = column(Privacy.PERSONAL, default="", max_length=200)
    outbound: bool = column(Privacy.NONE, default=False)
    occurred_at: datetime = timestamp()
    subject: str = column(Privacy.FREE_TEXT, max_length=500)
    # The parsed mail (addresses, text, quote, attachments), as a touchpoint will need it.
    mail: dict = column(Privacy.FREE_TEXT, default_factory=dict, sa_type=JSON)
    received_at: datetime = timestamp(default_factory=utcnow, index=True)


class IgnoredSender(SQLModel, table=True):
    """A sender whose mail is never kept, by a keyed hash of the address."""

    __tablename__ = "mail_ignored_sender"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    address_key: str = column(Privacy.NONE, max_length=64, unique=True)
    created_at: datetime = timestamp(default_factory=utcnow)


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # handed to the SMTP server; if the sender stops here: failed
    SENT = "sent"
    FAILED = "failed"


class MailKind(StrEnum):
    CONTRACT = "contract"  # about what they bought or asked for: no consent needed
    MARKETING = "marketing"  # needs consent to direct marketing; carries one-click unsubscribe


class OutboxMail(SQLModel, table=True):
    """A mail to send: written in the transaction that logs its touchpoint, sent by a
    job, marked with the SMTP server's answer. Never sent twice."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status", "status", "id"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int = column(Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE", index=True)
    touchpoint_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="touchpoint.id", ondelete="SET NULL"
    )
    sender_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    kind: str = column(Privacy.NONE, default=MailKind.CONTRACT, max_length=16)
    from_address: str = column(Privacy.PERSONAL, max_length=254)
    from_name: str = column(Privacy.PERSONAL, default="", max_length=200)
    to_address: str = column(Privacy.PERSONAL, max_length=254)
    subject: str = column(Privacy.FREE_TEXT, max_length=500)
    body: str = column(Privacy.FREE_TEXT, max_length=50_000)
    message_id: str = column(Privacy.PERSONAL, max_length=998)
    in_reply_to: str | None = column(Privacy.PERSONAL, default=None, max_length=998)
    unsubscribe_url: str | None = column(Privacy.NONE, default=None, max_length=2000)
    status: str = column(Privacy.NONE, default=OutboxStatus.QUEUED, max_length=16)
    attempts: int = column(Privacy.NONE, default=0)
    smtp_answer: str | None = column(Privacy.NONE, default=None, max_length=1000)
    # Where the answer is the CRM's own words (the server could not be reached), they
    # as a message and its parameters, to be shown in the reader's language.
    problem: dict | None = column(Privacy.NONE, default=None, sa_type=JSON)
    queued_at: datetime = timestamp(default_factory=utcnow)
    sent_at: datetime | None = timestamp(default=None)


# --- request and response schemas -----------------------------------------------------

Folder = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ErrorText(SQLModel):
    """A problem in the CRM's words: an English msgid and its parameters, shown translated."""

    message: str
    params: dict[str, str | int]

    def __str__(self) -> str:
        return self.message % self.params if self.params else self.message


class ConnectionFields(Strict, SQLModel):
    address: str | None = Field(default=None, min_length=3, max_length=254)
    host: str | None = Field(default=None, min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security | None = None
    username: str | None = Field(default=None, min_length=1, max_length=254)
    password: str | None = Field(default=None, min_length=1, max_length=500)
    folders: list[Folder] | None = Field(default=None, min_length=1, max_length=20)
    is_active: bool | None = None

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class OwnMailbox(ConnectionFields):
    """A user's own mailbox, set up by themselves: personal, theirs, named after them.
    Sent to connect one, every field but the password is needed; sent to change it,
    only what changes."""


class MailboxFields(ConnectionFields):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: MailboxKind | None = None
    owner_id: int | None = None
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    keep_attachments: bool | None = Field(
        default=None, description="Keep the attachment files (else their names and sizes)."
    )
    attachment_max_mb: int | None = Field(
        default=None, ge=1, le=50, description="Larger attachment files are not kept."
    )


class MailboxCreate(MailboxFields):
    name: str = Field(min_length=1, max_length=120)
    address: str = Field(min_length=3, max_length=254)
    host: str = Field(min_length=1, max_length=253)
    username: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=500)


class MailboxUpdate(MailboxFields):
    """Only the fields sent change; the password only when one is sent."""


class MailboxPublic(SQLModel):
    id: int
    name: str
    kind: MailboxKind
    owner_id: int | None
    address: str
    host: str
    port: int
    security: Security
    username: str
    folders: list[str]
    batch_size: int
    keep_attachments: bool
    attachment_max_mb: int
    is_active: bool
    checked_at: datetime | None
    last_error: str | None
    last_problems: list[ErrorText] = Field(
        description="The last error as messages (English msgids) and their parameters."
    )
    messages: int = Field(description="Messages read from its folders so far.")


class TriagePublic(SQLModel):
    id: int
    mailbox_id: int | None
    address: str
    name: str
    outbound: bool
    occurred_at: datetime
    subject: str
    text: str
    received_at: datetime


class TriagePage(SQLModel):
    items: list[TriagePublic]
    next_cursor: str | None


class TriageLink(Strict, SQLModel):
    contact_id: int = Field(description="The contact the sender's address is added to.")


class AttachmentPublic(SQLModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    stored: bool = Field(description="Whether the file is kept, to be downloaded.")


class MailPublic(SQLModel):
    touchpoint_id: int
    message_id: str
    from_address: str
    from_name: str
    to_addresses: list[str]
    cc_addresses: list[str]
    quoted: str | None = Field(description="The quoted reply and signature cut from the notes.")
    size_bytes: int
    is_stub: bool = Field(description="Too large to read: kept with its headers and size only.")
    mailbox_id: int | None
    attachments: list[AttachmentPublic]


class MailSend(Strict, SQLModel):
    contact_id: int
    template_id: int | None = Field(
        default=None,
        description="A mail template, written for the contact in their language; a subject "
        "or body sent along replaces the template's.",
    )
    subject: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, min_length=1, max_length=50_000)
    kind: MailKind = Field(
        default=MailKind.CONTRACT,
        description="marketing needs the contact's consent to direct marketing. A "
        "marketing template makes the mail marketing whatever is sent here.",
    )
    reply_to_touchpoint_id: int | None = Field(
        default=None, description="The mail touchpoint this answers: the reply threads onto it."
    )
    followup_id: int | None = Field(
        default=None,
        description="A pending follow-up of the contact's that this mail carries out: it is "
        "marked done, with the mail as what happened.",
    )

    _blank_is_none = field_validator("subject", "body", mode="before")(blank_is_none)


class OutboxPublic(SQLModel):
    id: int
    contact_id: int
    touchpoint_id: int | None
    kind: MailKind
    from_address: str
    to_address: str
    subject: str
    status: OutboxStatus
    attempts: int
    smtp_answer: str | None
    queued_at: datetime
    sent_at: datetime | None


class OutboxPage(SQLModel):
    items: list[OutboxPublic]
    next_cursor: str | None


class MailReadResult(SQLModel):
    mailbox_id: int
    read: int
    touchpoints: int
    triaged: int
    error: str | None

    @classmethod
    def of(cls, mailbox: Mailbox) -> "MailReadResult":
        return cls(mailbox_id=mailbox.id, read=0, touchpoints=0, triaged=0, error=None)
