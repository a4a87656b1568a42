"""Reading a mailbox over IMAP (imapclient): new messages since the last UID seen in each
folder, at most a batch per run, in chunks that each end in a commit of the caller's."""

import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlmodel import Session, select

from crm.core.db import utcnow
from crm.core.errors import N_, CRMError
from crm.core.sealing import unseal
from crm.core.settings import Settings
from crm.mail import files
from crm.mail.capture import Capture
from crm.mail.models import ErrorText, Mailbox, MailboxFolder, MailReadResult, Security
from crm.mail.parsing import ParsedMail, parse

log = logging.getLogger("crm.mail")

PASSWORD_PURPOSE = "mailbox password"  # noqa: S105 - names a key, holds none
CHUNK = 100
TIMEOUT_SECONDS = 30
MB = 1024 * 1024


class MailboxFailure(Exception):
    """Why a mailbox could not be read, in words for its admin (an English msgid, shown
    translated, and its parameters)."""

    def __init__(self, message: str, /, **params: str) -> None:
        self.problem = ErrorText(message=message, params=params)
        super().__init__(str(self.problem))


def connect(mailbox: Mailbox, *, secret_key: str) -> IMAPClient:
    try:
        password = unseal(mailbox.password_sealed, secret_key=secret_key, purpose=PASSWORD_PURPOSE)
    except CRMError as exc:
        raise MailboxFailure(exc.message, **exc.params) from exc
    context = ssl.create_default_context()
    try:
        client = IMAPClient(
            mailbox.host,
            port=mailbox.port,
            ssl=mailbox.security == Security.SSL,
            ssl_context=context,
            timeout=TIMEOUT_SECONDS,
        )
        if mailbox.security == Security.STARTTLS:
            client.starttls(context)
    except (OSError, IMAPClientError) as exc:
        raise MailboxFailure(
            N_("The server %(server)s cannot be reached: %(reason)s"),
            server=f"{mailbox.host}:{mailbox.port}",
            reason=str(exc),
        ) from exc
    try:
        client.login(mailbox.username, password)
    except LoginError as exc:
        client.shutdown()
        raise MailboxFailure(N_("The server refused the user name or password.")) from exc
    except (OSError, IMAPClientError) as exc:
        client.shutdown()
        raise MailboxFailure(N_("Logging in failed: %(reason)s"), reason=str(exc)) from exc
    return client


def read_mailbox(
    session: Session, *, mailbox: Mailbox, settings: Settings, result: MailReadResult
) -> Iterator[None]:
    """Read the mailbox's folders; yields after each chunk, where the caller may commit
    (the chunk's touchpoints and the folder's last UID go together). A failure is kept
    on the mailbox and in ``result``, never raised: the other mailboxes go on."""
    problems = []
    try:
        client = connect(mailbox, secret_key=settings.secret_key)
    except MailboxFailure as exc:
        problems.append(exc.problem)
    else:
        try:
            for folder in mailbox.folders:
                try:
                    yield from _read_folder(session, client, mailbox, folder, settings, result)
                except MailboxFailure as exc:
                    problems.append(exc.problem)
        finally:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                log.info("mailbox %s: the server closed before logout", mailbox.id)
    mailbox.checked_at = utcnow()
    mailbox.last_error = " ".join(map(str, problems))[:1000] or None
    mailbox.last_problems = [problem.model_dump() for problem in problems]
    result.error = mailbox.last_error
    session.add(mailbox)
    session.flush()
    yield


def _read_folder(
    session: Session,
    client: IMAPClient,
    mailbox: Mailbox,
    folder: str,
    settings: Settings,
    result: MailReadResult,
) -> Iterator[None]:
    try:
        selected = client.select_folder(folder, readonly=True)
    except IMAPClientError as exc:
        raise MailboxFailure(
            N_("The folder “%(folder)s” cannot be opened: %(reason)s"),
            folder=folder,
            reason=str(exc),
        ) from exc
    state = _folder_state(session, mailbox, folder, int(selected[b"UIDVALIDITY"]))
    try:
        # "n:*" always names the newest message, even when its UID is below n.
        uids = sorted(
            u for u in client.search(["UID", f"{state.last_uid + 1}:*"]) if u > state.last_uid
        )
    except (OSError, IMAPClientError) as exc:
        raise MailboxFailure(
            N_("The folder “%(folder)s” cannot be searched: %(reason)s"),
            folder=folder,
            reason=str(exc),
        ) from exc
    uids = uids[: mailbox.batch_size]
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start : start + CHUNK]
        keep_up_to = mailbox.attachment_max_mb * MB if mailbox.keep_attachments else 0
        try:
            mails = _fetch(client, chunk, limit=settings.mail_max_mb * MB, keep_up_to=keep_up_to)
        except (OSError, IMAPClientError) as exc:
            raise MailboxFailure(
                N_("Reading the folder “%(folder)s” failed: %(reason)s"),
                folder=folder,
                reason=str(exc),
            ) from exc
        capture = Capture(session, mailbox=mailbox, mails=mails, files=files.directory(settings))
        capture.run()
        state.last_uid = chunk[-1]
        session.add(state)
        session.flush()
        result.read += len(mails)
        result.touchpoints += capture.touchpoints
        result.triaged += capture.triaged
        yield


def _folder_state(
    session: Session, mailbox: Mailbox, folder: str, uidvalidity: int
) -> MailboxFolder:
    query = select(MailboxFolder).where(
        MailboxFolder.mailbox_id == mailbox.id, MailboxFolder.name == folder
    )
    state = session.exec(query).first()
    if state is None:
        state = MailboxFolder(mailbox_id=mailbox.id, name=folder, uidvalidity=uidvalidity)
    elif state.uidvalidity != uidvalidity:
        # The folder was rebuilt: its UIDs mean other messages now. Read it again from the
        # start; the receipts keep what was taken before from being taken twice.
        state.uidvalidity, state.last_uid = uidvalidity, 0
    return state


def _fetch(client: IMAPClient, uids: list[int], *, limit: int, keep_up_to: int) -> list[ParsedMail]:
    """Each message in full, or its headers alone where it is larger than ``limit``; the
    attachments up to ``keep_up_to`` bytes with their files."""
    meta = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
    small = [u for u in uids if meta.get(u, {}).get(b"RFC822.SIZE", 0) <= limit]
    large = [u for u in uids if u in meta and u not in small]
    bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
    heads = client.fetch(large, ["BODY.PEEK[HEADER]"]) if large else {}
    now = utcnow()
    mails = []
    for uid in uids:
        if uid not in meta:
            continue  # expunged meanwhile
        received = _received(meta[uid].get(b"INTERNALDATE"), now)
        size = meta[uid].get(b"RFC822.SIZE", 0)
        if uid in bodies:
            raw = bodies[uid].get(b"BODY[]", b"")
            mails.append(parse(raw, received=received, size_bytes=size, keep_up_to=keep_up_to))
        elif uid in heads:
            raw = heads[uid].get(b"BODY[HEADER]", b"")
            mails.append(parse(raw, received=received, size_bytes=size, stub=True))
    return mails


def _received(internal_date: datetime | None, now: datetime) -> datetime:
    """When the server took the message (IMAP gives it in local time, without a zone when
    the library normalises it), never later than now."""
    if internal_date is None:
        return now
    if internal_date.tzinfo is None:
        internal_date = internal_date.astimezone(UTC)
    return min(internal_date.astimezone(UTC), now)
