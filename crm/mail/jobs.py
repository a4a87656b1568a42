"""Scheduled work of the e-mail module."""

import logging
import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from crm.core import mail as core_mail
from crm.core.db import default_engine, job_session, utcnow
from crm.core.errors import N_
from crm.core.settings import Settings, get_settings
from crm.gdpr.cases import privacy_settings
from crm.mail import files, sending
from crm.mail import service as mail_service
from crm.mail.models import ErrorText, Mailbox, MailReadResult, OutboxStatus
from crm.mail.reading import read_mailbox

log = logging.getLogger("crm.mail")


def read_mailboxes(
    open_session: Callable[[], AbstractContextManager[Session]] | None = None,
    *,
    settings: Settings | None = None,
) -> list[MailReadResult]:
    """Every five minutes: read each active mailbox, committing after each chunk. A
    mailbox that fails keeps its error and does not stop the others."""
    open_session = open_session or (lambda: job_session(default_engine()))
    settings = settings or get_settings()
    with open_session() as session:
        ids = list(session.exec(select(Mailbox.id).where(col(Mailbox.is_active))))
    results = []
    for mailbox_id in ids:
        try:
            with open_session() as session:
                mailbox = session.get(Mailbox, mailbox_id)
                if mailbox is None:
                    continue
                result = MailReadResult.of(mailbox)
                for _ in read_mailbox(session, mailbox=mailbox, settings=settings, result=result):
                    session.commit()
                results.append(result)
        except Exception:  # a fault of ours in one mailbox must not stop the others
            log.exception("reading mailbox %s failed", mailbox_id)
            with open_session() as session:
                mail_service.record_failure(session, mailbox_id=mailbox_id)
    return results


def purge_triage(engine: Engine | None = None) -> int:
    """Daily: mail from unknown senders that waited longer than the DPO allows goes."""
    with job_session(engine or default_engine()) as session:
        days = privacy_settings(session).mail_triage_days
        return mail_service.purge_triage(session, before=utcnow() - timedelta(days=days))


def send_outbox(
    open_session: Callable[[], AbstractContextManager[Session]] | None = None,
    *,
    settings: Settings | None = None,
    limit: int = 1000,
) -> int:
    """Every minute: send the queued mails over one SMTP connection, each marked with the
    server's answer in its own commit. A mail is claimed before it goes out, so a sender
    that stops half-way leaves it failed, never sent twice."""
    open_session = open_session or (lambda: job_session(default_engine()))
    settings = settings or get_settings()
    with open_session() as session:
        sending.give_up_lost(session)
    with open_session() as session:
        batch = sending.claim(session, limit=limit)
    if not batch:
        return 0
    sent = 0
    try:
        smtp = core_mail.connect(settings, timeout=30)
    except smtplib.SMTPAuthenticationError as exc:
        refused = N_("The mail server refused the CRM's login (CRM_SMTP_USER): %(reason)s")
        _mark_all(open_session, batch, OutboxStatus.FAILED, _problem(refused, exc))
        return 0
    except (OSError, smtplib.SMTPException) as exc:
        unreachable = N_("The mail server cannot be reached: %(reason)s")
        _mark_all(open_session, batch, OutboxStatus.FAILED, _problem(unreachable, exc))
        return 0
    with smtp:
        for n, outgoing in enumerate(batch):
            try:
                status, answer = sending.deliver(smtp, outgoing)
            except (OSError, smtplib.SMTPException) as exc:
                # The connection broke: this one failed; the rest never left and wait.
                stopped = _problem(N_("The mail server stopped: %(reason)s"), exc)
                _mark_all(open_session, [outgoing], OutboxStatus.FAILED, stopped)
                _mark_all(open_session, batch[n + 1 :], OutboxStatus.QUEUED, "")
                break
            with open_session() as session:
                sending.mark(session, outgoing=outgoing, status=status, answer=answer)
            sent += status == OutboxStatus.SENT
    return sent


def _problem(message: str, exc: Exception) -> ErrorText:
    return ErrorText(message=message, params={"reason": str(exc)})


def _mark_all(
    open_session: Callable[[], AbstractContextManager[Session]],
    batch: list,
    status: OutboxStatus,
    answer: str | ErrorText,
) -> None:
    with open_session() as session:
        for outgoing in batch:
            sending.mark(session, outgoing=outgoing, status=status, answer=answer)


def sweep_attachment_files(
    engine: Engine | None = None, *, settings: Settings | None = None
) -> int:
    """Daily: attachment files whose mail is gone (deleted, or not committed) go too."""
    settings = settings or get_settings()
    with job_session(engine or default_engine()) as session:
        return files.sweep(session, folder=files.directory(settings))
