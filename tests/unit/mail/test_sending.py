"""Sending mail through the real SMTP server into Dovecot: a touchpoint at once, sent
once, the reply threaded onto it; marketing only with consent, with one-click
unsubscribe; refusals and failures shown, and retried only on request."""

from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from crm.core.errors import Conflict
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentChange
from crm.mail import jobs, sending
from crm.mail import service as mail_service
from crm.mail.models import MailKind, MailMessage, MailSend, OutboxMail, OutboxStatus
from crm.touchpoints.models import Touchpoint
from tests import mailboxes, mailservers
from tests.factories import make_contact, make_user

CUSTOMERS = "customers.example"
LINKS = lambda token: (f"http://crm.test/api/v1/unsubscribe/{token}", f"http://crm.test/w/{token}")  # noqa: E731


@pytest.fixture
def smtp(settings, monkeypatch):
    monkeypatch.setattr(settings, "smtp_host", mailservers.HOST)
    monkeypatch.setattr(settings, "smtp_port", mailservers.SMTP_PORT)
    return settings


def _queue(session, settings, contact, user, **fields):
    data = MailSend(contact_id=contact.id, subject="Your offer", body="Dear customer.", **fields)
    return sending.queue(
        session, data=data, sender=user, settings=settings, unsubscribe_links=LINKS
    )


def _received(address):
    with mailboxes.imap(address) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
    return [message_from_bytes(fetched[u][b"BODY[]"], policy=policy.default) for u in uids]


def test_a_mail_is_a_touchpoint_at_once_goes_out_once_and_the_reply_threads_onto_it(
    session, smtp, open_session
):
    rep = make_user(session, name="Rita Rep")
    box = mailboxes.account("rep")
    mailbox = mailboxes.make_mailbox(
        session,
        address=box,
        secret_key=smtp.secret_key,
        kind="personal",
        owner_id=rep.id,
        folders=["INBOX", "Sent"],
    )
    customer = mailboxes.account("customer", CUSTOMERS)
    contact = make_contact(session, emails=[customer])

    outgoing = _queue(session, smtp, contact, rep)
    touchpoint = session.get(Touchpoint, outgoing.touchpoint_id)
    assert (touchpoint.summary, touchpoint.notes, touchpoint.direction) == (
        "Your offer",
        "Dear customer.",
        "outbound",
    )
    assert (outgoing.status, outgoing.from_address) == (OutboxStatus.QUEUED, box)

    assert jobs.send_outbox(open_session, settings=smtp) == 1
    assert jobs.send_outbox(open_session, settings=smtp) == 0
    session.refresh(outgoing)
    assert outgoing.status == OutboxStatus.SENT and outgoing.sent_at is not None
    [delivered] = _received(customer)
    assert delivered["Message-ID"] == outgoing.message_id
    assert delivered["From"] == f"Rita Rep <{box}>"
    assert "List-Unsubscribe" not in delivered

    mailboxes.append(box, delivered, folder="Sent")  # the client's copy of what went out
    reply = mailboxes.mail(
        sender=customer, to=box, subject="Re: Your offer", in_reply_to=outgoing.message_id
    )
    mailboxes.send(reply)
    result = mail_service.read_now(session, mailbox=mailbox, settings=smtp)

    assert (result.read, result.touchpoints) == (2, 1)
    threads = {
        t.summary: session.get(MailMessage, t.id).thread_key
        for t in session.exec(select(Touchpoint).where(Touchpoint.contact_id == contact.id))
    }
    assert threads["Your offer"] == threads["Re: Your offer"]


def test_marketing_mail_needs_consent_and_carries_one_click_unsubscribe(
    session, smtp, open_session
):
    rep = make_user(session)
    customer = mailboxes.account("lead", CUSTOMERS)
    contact = make_contact(session, emails=[customer])
    with pytest.raises(Conflict, match="consent to direct marketing"):
        _queue(session, smtp, contact, rep, kind=MailKind.MARKETING)
    assert (
        session.exec(select(OutboxMail).where(OutboxMail.contact_id == contact.id)).first() is None
    )

    gdpr_service.record_consent(
        session,
        contact=contact,
        data=ConsentChange(purpose="direct_marketing", action="granted", source="form"),
        actor_id=None,
    )
    outgoing = _queue(session, smtp, contact, rep, kind=MailKind.MARKETING)
    jobs.send_outbox(open_session, settings=smtp)

    [delivered] = _received(customer)
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert delivered["List-Unsubscribe"] == f"<{outgoing.unsubscribe_url}>"
    assert "To receive no more of these mails: http://crm.test/w/" in delivered.get_content()


def test_an_objection_stops_marketing_mail_but_not_contract_mail(session, smtp):
    rep = make_user(session)
    contact = make_contact(session, emails=[mailboxes.account("c", CUSTOMERS)])
    contact.objected_at = contact.created_at
    with pytest.raises(Conflict, match="objected"):
        _queue(session, smtp, contact, rep, kind=MailKind.MARKETING)
    assert _queue(session, smtp, contact, rep).status == OutboxStatus.QUEUED


def test_a_refused_recipient_is_shown_and_sent_again_only_on_request(session, smtp, open_session):
    rep = make_user(session)
    contact = make_contact(session, emails=[f"nobody@{mailservers.REFUSED_DOMAIN}"])
    outgoing = _queue(session, smtp, contact, rep)

    assert jobs.send_outbox(open_session, settings=smtp) == 0
    session.refresh(outgoing)
    assert outgoing.status == OutboxStatus.FAILED
    assert outgoing.smtp_answer.startswith("550 5.1.1")
    assert jobs.send_outbox(open_session, settings=smtp) == 0
    assert outgoing.attempts == 1

    sending.retry(session, outgoing=outgoing)
    assert outgoing.status == OutboxStatus.QUEUED
    with pytest.raises(Conflict):
        sending.retry(session, outgoing=outgoing)


def test_an_unreachable_server_fails_the_mail_with_the_reason(
    session, smtp, open_session, monkeypatch
):
    monkeypatch.setattr(smtp, "smtp_port", 1)
    outgoing = _queue(session, smtp, make_contact(session), make_user(session))

    jobs.send_outbox(open_session, settings=smtp)

    session.refresh(outgoing)
    assert outgoing.status == OutboxStatus.FAILED
    assert outgoing.smtp_answer.startswith("The mail server cannot be reached")


def test_a_mail_left_half_sent_is_never_sent_again_on_its_own(session, smtp, open_session):
    customer = mailboxes.account("c", CUSTOMERS)
    outgoing = _queue(session, smtp, make_contact(session, emails=[customer]), make_user(session))
    outgoing.status = OutboxStatus.SENDING  # as when the sender stopped at that moment
    session.add(outgoing)
    session.commit()

    jobs.send_outbox(open_session, settings=smtp)

    session.refresh(outgoing)
    assert outgoing.status == OutboxStatus.FAILED
    assert "may or may not have gone out" in outgoing.smtp_answer
    assert _received(customer) == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")
def test_a_refused_login_fails_the_mail_and_says_so_in_words_of_the_crm(
    session, settings, open_session, monkeypatch, submission
):
    monkeypatch.setattr(settings, "smtp_password", "wrong")
    outgoing = _queue(session, settings, make_contact(session), make_user(session))

    jobs.send_outbox(open_session, settings=settings)

    session.refresh(outgoing)
    assert outgoing.status == OutboxStatus.FAILED
    assert outgoing.smtp_answer.startswith("The mail server refused the CRM's login")
    assert outgoing.problem["message"] == (
        "The mail server refused the CRM's login (CRM_SMTP_USER): %(reason)s"
    )
    assert "535" in outgoing.problem["params"]["reason"]
    assert submission.messages == []
    sending.retry(session, outgoing=outgoing)
    assert (outgoing.smtp_answer, outgoing.problem) == (None, None)
