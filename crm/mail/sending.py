"""Sending mail to a contact: queued in the transaction that logs its touchpoint, sent by
a job over SMTP (CRM_SMTP_*), at most once, with the server's answer kept."""

import smtplib
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import update
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.i18n import translations
from crm.core.pagination import keyset_page
from crm.core.settings import Settings
from crm.followups import service as followup_service
from crm.followups.models import FollowupComplete
from crm.gdpr import service as gdpr_service
from crm.mail import drafts
from crm.mail.capture import Matched, message_key, record, thread_key
from crm.mail.models import (
    ErrorText,
    Mailbox,
    MailboxKind,
    MailKind,
    MailMessage,
    MailReceipt,
    MailSend,
    OutboxMail,
    OutboxStatus,
)
from crm.mail.parsing import ParsedMail
from crm.touchpoints.models import Initiator
from crm.users.models import User

MARKETING_PURPOSE = "direct_marketing"
UNSUBSCRIBE = N_("To receive no more of these mails:")
LOST_IN_SENDING = N_(
    "The sender stopped while handing this mail to the SMTP server: it may or may not "
    "have gone out. Check with the recipient before retrying."
)


def _sender_address(session: Session, user: User, settings: Settings) -> str:
    """The user's own mailbox address where they have one, else the CRM's."""
    query = select(Mailbox.address).where(
        Mailbox.kind == MailboxKind.PERSONAL, Mailbox.owner_id == user.id
    )
    return session.exec(query).first() or settings.smtp_from


def _check_may_send(session: Session, contact, kind: MailKind) -> None:
    contact_service.check_not_restricted(contact)
    if not contact.email:
        raise Invalid(N_("This contact has no e-mail address."), field="contact_id")
    if kind != MailKind.MARKETING:
        return
    if contact.objected_at is not None:
        raise Conflict(N_("This contact objected to direct marketing: no marketing mail."))
    if contact.suppressed_at is not None:
        raise Conflict(N_("This contact is on the suppression list: no marketing mail."))
    purpose = gdpr_service.purpose_by_key(session, MARKETING_PURPOSE)
    if not gdpr_service.is_granted(session, contact.id, purpose.id):
        raise Conflict(
            N_(
                "Marketing mail needs the contact's consent to direct marketing, "
                "and they have not given it."
            )
        )


def queue(
    session: Session,
    *,
    data: MailSend,
    sender: User,
    settings: Settings,
    unsubscribe_links: Callable[[str], tuple[str, str]],
    company_id: int | None = None,
) -> OutboxMail:
    """Queue a mail and log it as a touchpoint at once; a reply to a mail touchpoint
    threads onto its conversation; a follow-up it carries out is done with it. Sent from
    a company's page (``company_id``), the contact must work there."""
    contact = contact_service.get_contact(session, contact_id=data.contact_id)
    if company_id is not None and contact.company_id != company_id:
        raise Invalid(N_("This contact does not work for this company."), field="contact_id")
    subject, text, kind = _written(session, data, contact, sender, settings)
    _check_may_send(session, contact, kind)
    followup = _followup_carried_out(session, contact, data.followup_id)
    parent = session.get(MailMessage, data.reply_to_touchpoint_id or 0)
    if data.reply_to_touchpoint_id is not None and parent is None:
        raise NotFound(N_("This touchpoint is not a mail."))
    address = _sender_address(session, sender, settings)
    one_click = body = None
    if kind == MailKind.MARKETING:
        token = gdpr_service.withdrawal_token(
            settings.secret_key, contact_id=contact.id, purpose=MARKETING_PURPOSE
        )
        one_click, page = unsubscribe_links(token)
        gettext = translations(contact.language or settings.default_language).gettext
        body = f"{text}\n\n-- \n{gettext(UNSUBSCRIBE)} {page}"
    mail = ParsedMail(
        message_id=make_msgid(domain=address.partition("@")[2] or None),
        subject=" ".join(subject.split()),
        from_address=address,
        from_name=sender.name,
        to=[contact.email],
        cc=[],
        thread_root="",
        in_reply_to=parent.message_id if parent else "",
        references=[parent.message_id] if parent else [],
        date=utcnow(),
        text=text,
        quoted="",
        attachments=[],
        size_bytes=len(text.encode()),
    )
    mail.thread_root = mail.message_id
    [touchpoint] = record(
        session,
        [
            Matched(
                mail=mail,
                contact_id=contact.id,
                outbound=True,
                initiator=Initiator.COMPANY,
                actor_id=sender.id,
                thread=parent.thread_key if parent else thread_key(mail),
            )
        ],
        mailbox=None,
    )
    # Its copy in the sender's Sent folder is the same mail: not a second touchpoint.
    session.add(MailReceipt(message_key=message_key(mail)))
    outgoing = OutboxMail(
        contact_id=contact.id,
        touchpoint_id=touchpoint.id,
        sender_id=sender.id,
        kind=kind,
        from_address=address,
        from_name=sender.name,
        to_address=contact.email,
        subject=mail.subject,
        body=body or text,
        message_id=mail.message_id,
        in_reply_to=mail.in_reply_to or None,
        unsubscribe_url=one_click,
    )
    session.add(outgoing)
    session.flush()
    if followup is not None:
        followup_service.complete_followup(
            session,
            followup=followup,
            data=FollowupComplete(touchpoint_id=touchpoint.id),
            actor_id=sender.id,
        )
    return outgoing


def _written(
    session: Session, data: MailSend, contact, sender: User, settings: Settings
) -> tuple[str, str, MailKind]:
    """Subject, text and kind: as sent, or written from the template where not sent."""
    if data.template_id is None:
        if data.subject is None or data.body is None:
            raise Invalid(
                N_("A mail needs a subject and a text, or a template to write them from."),
                field="subject" if data.subject is None else "body",
            )
        return data.subject, data.body, data.kind
    template = drafts.get_template(session, template_id=data.template_id)
    draft = drafts.draft_for(
        session,
        template=template,
        contact=contact,
        user=sender,
        default_language=settings.default_language,
    )
    subject, text = data.subject or draft.subject, data.body or draft.body
    if not subject or not text.strip():
        raise Invalid(N_("The template wrote an empty mail for this contact."), field="template_id")
    if len(subject) > 500 or len(text) > 50_000:
        raise Invalid(N_("The template wrote a mail too long to send."), field="template_id")
    # A marketing template stays marketing: its consent check cannot be sent around.
    marketing = MailKind.MARKETING in (data.kind, draft.kind)
    return subject, text, MailKind.MARKETING if marketing else MailKind.CONTRACT


def _followup_carried_out(session: Session, contact, followup_id: int | None):
    """The follow-up the mail carries out: the contact's own or their company's."""
    if followup_id is None:
        return None
    followup = followup_service.get_followup(session, followup_id=followup_id)
    if not followup_service.is_about(followup, contact):
        raise Invalid(N_("This follow-up is not about this contact."), field="followup_id")
    return followup


def message_of(outgoing: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    local, _, domain = outgoing.from_address.partition("@")
    message["From"] = Address(outgoing.from_name, local, domain)
    message["To"] = outgoing.to_address
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(outgoing.queued_at)
    message["Message-ID"] = outgoing.message_id
    if outgoing.in_reply_to:
        message["In-Reply-To"] = message["References"] = outgoing.in_reply_to
    if outgoing.unsubscribe_url:
        # RFC 8058: the mail client unsubscribes with one POST, without a page between.
        message["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(outgoing.body)
    return message


def claim(session: Session, *, limit: int) -> list[OutboxMail]:
    """The next queued mails, marked as being sent (committed by the caller before any
    goes out, so that no other sender takes them)."""
    ids = list(
        session.exec(
            select(OutboxMail.id)
            .where(OutboxMail.status == OutboxStatus.QUEUED)
            .order_by(col(OutboxMail.id))
            .limit(limit)
        )
    )
    if not ids:
        return []
    session.execute(
        update(OutboxMail)
        .where(col(OutboxMail.id).in_(ids), OutboxMail.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, attempts=OutboxMail.attempts + 1)
    )
    query = select(OutboxMail).where(
        col(OutboxMail.id).in_(ids), OutboxMail.status == OutboxStatus.SENDING
    )
    return list(session.exec(query.order_by(col(OutboxMail.id))).all())


def give_up_lost(session: Session) -> int:
    """Mails left "sending" by a sender that stopped: never sent again on their own."""
    return session.execute(
        update(OutboxMail)
        .where(OutboxMail.status == OutboxStatus.SENDING)
        .values(
            status=OutboxStatus.FAILED,
            smtp_answer=LOST_IN_SENDING,
            problem={"message": LOST_IN_SENDING, "params": {}},
        )
    ).rowcount


def deliver(smtp: smtplib.SMTP, outgoing: OutboxMail) -> tuple[OutboxStatus, str]:
    """Hand one mail to the server: its answer, and whether it took the mail."""
    try:
        refused = smtp.send_message(message_of(outgoing))
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return OutboxStatus.FAILED, f"{code} {text.decode(errors='replace')}"
    except smtplib.SMTPResponseException as exc:
        return OutboxStatus.FAILED, f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
    if refused:
        code, text = next(iter(refused.values()))
        return OutboxStatus.FAILED, f"{code} {text.decode(errors='replace')}"
    return OutboxStatus.SENT, "250 accepted"


def mark(
    session: Session,
    *,
    outgoing: OutboxMail,
    status: OutboxStatus,
    answer: str | ErrorText,
) -> None:
    """The mail's state and the answer it got: the server's words, or the CRM's own."""
    outgoing.status, outgoing.smtp_answer = status, str(answer)[:1000] or None
    outgoing.problem = answer.model_dump() if isinstance(answer, ErrorText) else None
    if status == OutboxStatus.SENT:
        outgoing.sent_at = utcnow()
    session.add(outgoing)


def retry(session: Session, *, outgoing: OutboxMail) -> OutboxMail:
    if outgoing.status != OutboxStatus.FAILED:
        raise Conflict(N_("Only a mail that failed can be sent again."))
    outgoing.status, outgoing.smtp_answer, outgoing.problem = OutboxStatus.QUEUED, None, None
    session.add(outgoing)
    session.flush()
    return outgoing


def get_outgoing(session: Session, *, outgoing_id: int) -> OutboxMail:
    found = session.get(OutboxMail, outgoing_id)
    if found is None:
        raise NotFound(N_("No such mail."))
    return found


def list_outgoing(
    session: Session,
    *,
    contact_id: int | None = None,
    status: OutboxStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[OutboxMail], str | None]:
    query = select(OutboxMail)
    if contact_id is not None:
        query = query.where(OutboxMail.contact_id == contact_id)
    if status is not None:
        query = query.where(OutboxMail.status == status)
    return keyset_page(
        session, query, [col(OutboxMail.id)], descending=True, cursor=cursor, limit=limit
    )
