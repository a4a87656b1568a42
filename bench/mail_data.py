"""Mail on some contacts' timelines for the benchmark's contact page: 50 mails each, in
five conversations of ten, their replies quoting what they answer. Made once per data
set, on the last contacts (the quick log writes to the first ones)."""

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import func, select
from sqlmodel import col

from crm.contacts.models import Contact, ContactEmail
from crm.core.db import job_session, make_engine, utcnow
from crm.mail.capture import Matched, record, thread_key
from crm.mail.models import MailMessage
from crm.mail.parsing import parse
from crm.touchpoints.models import Initiator, Touchpoint

MAIL_CONTACTS = 20
CONVERSATIONS, PER_CONVERSATION = 5, 10
OURS = "team@bench.example"


def _conversation(contact_email: str, n: int) -> list[EmailMessage]:
    start = utcnow() - timedelta(days=60 - 10 * n)
    made: list[EmailMessage] = []
    for k in range(PER_CONVERSATION):
        message = EmailMessage()
        ours = k % 2 == 0
        message["From"], message["To"] = (OURS, contact_email) if ours else (contact_email, OURS)
        message["Subject"] = f"Re: Order {n}" if k else f"Order {n}"
        message["Message-ID"] = make_msgid(domain="bench.example")
        message["Date"] = format_datetime(start + timedelta(hours=k))
        body = f"About order {n}, step {k}: the details follow.\n"
        if made:
            message["In-Reply-To"] = made[-1]["Message-ID"]
            message["References"] = " ".join(m["Message-ID"] for m in made)
            earlier = made[-1].get_content()
            body += "\nOn Monday you wrote:\n" + "".join(
                f"> {line}\n" for line in earlier.splitlines()
            )
        message.set_content(body)
        made.append(message)
    return made


def conversations_setup(url: str) -> list[int]:
    """The contacts with mail conversations on their timelines."""
    engine = make_engine(url)
    with job_session(engine) as session:
        ids = list(
            session.execute(
                select(Contact.id).order_by(col(Contact.id).desc()).limit(MAIL_CONTACTS)
            ).scalars()
        )
        made = session.execute(
            select(func.count())
            .select_from(MailMessage)
            .join(Touchpoint, col(Touchpoint.id) == MailMessage.touchpoint_id)
            .where(col(Touchpoint.contact_id).in_(ids))
        ).scalar_one()
        if made < MAIL_CONTACTS * CONVERSATIONS * PER_CONVERSATION:
            addresses = dict(
                session.execute(
                    select(ContactEmail.contact_id, ContactEmail.email).where(
                        col(ContactEmail.contact_id).in_(ids)
                    )
                ).all()
            )
            for contact_id in ids:
                address = addresses.get(contact_id, f"mail{contact_id}@customers.example")
                matched = []
                for n in range(CONVERSATIONS):
                    thread = None
                    for message in _conversation(address, n):
                        mail = parse(message.as_bytes(), received=utcnow())
                        thread = thread or thread_key(mail)
                        ours = mail.from_address == OURS
                        matched.append(
                            Matched(
                                mail=mail,
                                contact_id=contact_id,
                                outbound=ours,
                                initiator=Initiator.COMPANY if ours else Initiator.CUSTOMER,
                                actor_id=None,
                                thread=thread,
                            )
                        )
                record(session, matched, mailbox=None)
            session.commit()
    engine.dispose()
    return ids
