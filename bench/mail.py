"""The e-mail part of the benchmark: reading 10,000 messages from the test Dovecot into
touchpoints, matched against the data set's contacts; and sending 1,000 queued mails
through the test SMTP server.

    .venv/bin/python bench/mail.py --size M --db sqlite [--messages 10000]

Needs the test mail servers (`make mailservers`). The messages go into a new Dovecot
account over IMAP first (not timed); then the mailbox is read as the scheduled job reads
it, in chunks that each commit, and timed. Nine in ten messages come from a contact (a
tenth of those are replies, threaded), one in ten from a stranger (triaged). What the
run made is deleted afterwards: the data set stays as it was. The sending part queues
one mail to each of 1,000 contacts first (not timed), then times the outbox job.
"""

import argparse
import json
import random
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func
from sqlmodel import col, select

from bench.generate import BENCH_EMAIL
from bench.run import OUT, database_url, ensure_data
from crm.contacts.models import Contact, ContactEmail
from crm.core.db import job_session, make_engine, utcnow
from crm.core.settings import get_settings
from crm.mail import jobs, sending
from crm.mail.models import (
    Mailbox,
    MailMessage,
    MailReadResult,
    MailReceipt,
    MailSend,
    OutboxMail,
    TriageEntry,
)
from crm.mail.reading import read_mailbox
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Touchpoint
from crm.users import service as user_service
from tests import mailboxes, mailservers

SEED = 25


def messages(box: str, senders: list[str], count: int) -> list[bytes]:
    rng = random.Random(SEED)
    made: list[bytes] = []
    earlier: list[str] = []
    for n in range(count):
        message = EmailMessage()
        known = rng.random() < 0.9
        message["From"] = rng.choice(senders) if known else f"stranger{n}@elsewhere.example"
        message["To"] = box
        message["Message-ID"] = make_msgid(domain="bench.example")
        if known and earlier and rng.random() < 0.1:
            message["In-Reply-To"] = message["References"] = rng.choice(earlier)
            message["Subject"] = "Re: Your offer"
        else:
            message["Subject"] = f"Question {n}"
        earlier.append(message["Message-ID"])
        message.set_content(f"Hello,\n\nabout order {n}: when does it ship?\n\n-- \nA customer\n")
        made.append(message.as_bytes())
    return made


def measure_reading(engine, settings, count: int) -> dict:
    box = mailboxes.account("bench")
    with job_session(engine) as session:
        senders = list(
            session.exec(select(ContactEmail.email).order_by(col(ContactEmail.id)).limit(50_000))
        )
        contacts = session.execute(select(func.count()).select_from(Contact)).scalar_one()
        mailbox_id = mailboxes.make_mailbox(
            session, address=box, secret_key=settings.secret_key, batch_size=count
        ).id
    print(f"putting {count} messages into {box} ...", flush=True)
    with mailboxes.imap(box) as client:
        for raw in messages(box, senders, count):
            client.append("INBOX", raw)

    started = time.perf_counter()
    with job_session(engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        result = MailReadResult.of(mailbox)
        for _ in read_mailbox(session, mailbox=mailbox, settings=settings, result=result):
            session.commit()
    seconds = time.perf_counter() - started

    with job_session(engine) as session:
        made = select(Touchpoint).join(MailMessage).where(MailMessage.mailbox_id == mailbox_id)
        _delete_touchpoints(session, session.exec(made).all())
        session.execute(delete(TriageEntry).where(TriageEntry.mailbox_id == mailbox_id))
        session.execute(delete(MailReceipt).where(MailReceipt.mailbox_id == mailbox_id))
        session.execute(delete(Mailbox).where(col(Mailbox.id) == mailbox_id))
    return {
        "messages": result.read,
        "touchpoints": result.touchpoints,
        "triaged": result.triaged,
        "error": result.error,
        "contacts": contacts,
        "seconds": round(seconds, 2),
        "messages_per_second": round(result.read / seconds, 1),
    }


def measure_sending(engine, settings, count: int) -> dict:
    """Queue mails to as many contacts (not timed), then send them as the job does."""
    settings = settings.model_copy(
        update={"smtp_host": mailservers.HOST, "smtp_port": mailservers.SMTP_PORT}
    )
    queued_since = utcnow()
    with job_session(engine) as session:
        sender = user_service.get_user_by_email(session, email=BENCH_EMAIL)
        ids = session.exec(
            select(ContactEmail.contact_id).order_by(col(ContactEmail.id)).limit(count)
        )
        for contact_id in list(ids):
            sending.queue(
                session,
                data=MailSend(contact_id=contact_id, subject="Your order", body="It ships today."),
                sender=sender,
                settings=settings,
                unsubscribe_links=lambda token: ("", ""),
            )
    started = time.perf_counter()
    sent = jobs.send_outbox(lambda: job_session(engine), settings=settings, limit=count)
    seconds = time.perf_counter() - started

    with job_session(engine) as session:
        mine = select(OutboxMail).where(col(OutboxMail.queued_at) >= queued_since)
        outgoing = session.exec(mine).all()
        _delete_touchpoints(session, [session.get(Touchpoint, o.touchpoint_id) for o in outgoing])
        session.execute(delete(OutboxMail).where(col(OutboxMail.queued_at) >= queued_since))
        session.execute(
            delete(MailReceipt).where(
                col(MailReceipt.mailbox_id).is_(None), col(MailReceipt.received_at) >= queued_since
            )
        )
    return {
        "mails": count,
        "sent": sent,
        "seconds": round(seconds, 2),
        "mails_per_second": round(sent / seconds, 1),
    }


def _delete_touchpoints(session, touchpoints) -> None:
    """Through the service, so that the kept figures and the phases' counts follow."""
    for touchpoint in touchpoints:
        touchpoint_service.delete_touchpoint(session, touchpoint=touchpoint, actor_id=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["S", "M", "L"], default="M")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--mails", type=int, default=1_000, help="mails to send")
    options = parser.parse_args()
    url = database_url(options.db, options.size)
    ensure_data(url, options.size)
    engine = make_engine(url)
    settings = get_settings()
    figures = {
        "reading": measure_reading(engine, settings, options.messages),
        "sending": measure_sending(engine, settings, options.mails),
    }
    engine.dispose()
    print(json.dumps(figures, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"mail-{options.size}-{options.db}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
