"""Mailboxes on the tests' real Dovecot (tests/mailservers.py): each test makes accounts
of its own, puts mail in them over IMAP or sends it through the SMTP server."""

import smtplib
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from imapclient import IMAPClient
from sqlmodel import Session

from crm.mail import service as mail_service
from crm.mail.models import Mailbox, MailboxCreate, Security
from tests import mailservers


def account(name: str = "box", domain: str = "crm.test") -> str:
    """A new, empty mailbox's address (a customer's: at a domain a contact may have)."""
    return f"{name}-{uuid.uuid4().hex[:10]}@{domain}"


def imap(address: str) -> IMAPClient:
    client = IMAPClient(mailservers.HOST, port=mailservers.IMAP_PORT, ssl=False, timeout=10)
    client.login(address, mailservers.PASSWORD)
    return client


def append(address: str, raw: bytes | EmailMessage, folder: str = "INBOX") -> None:
    data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
    with imap(address) as client:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.append(folder, data)


def send(message: EmailMessage) -> None:
    with smtplib.SMTP(mailservers.HOST, mailservers.SMTP_PORT, timeout=10) as smtp:
        smtp.send_message(message)


def mail(
    *,
    sender: str,
    to: str | list[str],
    subject: str = "Hello",
    body: str = "Hello there.",
    cc: list[str] | None = None,
    date: datetime | None = None,
    in_reply_to: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join([to] if isinstance(to, str) else to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="mail.test")
    if date is not None:
        message["Date"] = format_datetime(date)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message


def make_mailbox(session: Session, *, address: str, secret_key: str, **fields: object) -> Mailbox:
    values = {
        "name": address.split("@")[0],
        "address": address,
        "host": mailservers.HOST,
        "port": mailservers.IMAP_PORT,
        "security": Security.NONE,
        "username": address,
        "password": mailservers.PASSWORD,
        **fields,
    }
    mailbox = mail_service.create_mailbox(
        session, data=MailboxCreate(**values), secret_key=secret_key, actor_id=None
    )
    session.commit()
    return mailbox
