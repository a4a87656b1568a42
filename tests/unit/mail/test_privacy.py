"""A contact's mail under the GDPR: in their Art. 15 export, gone with their erasure,
with the mail of theirs that waited for triage."""

import json
import zipfile

from sqlmodel import func, select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactUpdate
from crm.gdpr import cases, erasure, export
from crm.gdpr.models import ErasureRequest, RequestCreate, RequestUpdate
from crm.mail import files, sending
from crm.mail import service as mail_service
from crm.mail.models import MailAttachment, MailMessage, MailSend, OutboxMail, TriageEntry
from tests import mailboxes
from tests.factories import make_contact, make_user


def _count(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


def _request(session, contact, kind):
    found = cases.create_request(
        session,
        data=RequestCreate(kind=kind, requester_name=contact.name, contact_id=contact.id),
        actor_id=None,
    )
    cases.update_request(
        session, found=found, data=RequestUpdate(identity_verified=True), actor_id=None
    )
    return found


def test_the_export_holds_their_mail_and_erasure_takes_it(session, settings, tmp_path):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(
        session, address=box, secret_key=settings.secret_key, keep_attachments=True
    )
    contact = make_contact(session, emails=["erin.mail@example.com"])
    other = make_contact(session)
    message = mailboxes.mail(
        sender=contact.emails[0], to=box, subject="My order", body="Order 4711, please."
    )
    message.add_attachment(b"data", maintype="text", subtype="csv", filename="order.csv")
    mailboxes.append(box, message)
    mailboxes.append(box, mailboxes.mail(sender=other.emails[0], to=box, subject="Other"))
    # From an address of hers that is not on her record yet: it waits for triage.
    mailboxes.append(box, mailboxes.mail(sender="erin.private@example.com", to=box))
    mail_service.read_now(session, mailbox=mailbox, settings=settings)
    contact_service.update_contact(
        session,
        contact=contact,
        data=ContactUpdate(emails=[*contact.emails, "erin.private@example.com"]),
        actor_id=None,
    )

    sending.queue(
        session,
        data=MailSend(contact_id=contact.id, subject="Your order", body="It ships today."),
        sender=make_user(session),
        settings=settings,
        unsubscribe_links=lambda token: ("", ""),
    )
    path = export.write_export(
        session,
        found=_request(session, contact, "access"),
        directory=tmp_path,
        attachments=files.directory(settings),
        actor_id=None,
    )
    with zipfile.ZipFile(path) as archive:
        [kept] = [n for n in archive.namelist() if n.startswith("attachments/")]
        assert kept.endswith("-order.csv") and archive.read(kept) == b"data"
        manifest = json.loads(archive.read("manifest.json"))
        assert kept in [f["name"] for f in manifest["files"]]
        mails = json.loads(archive.read("mails.json"))
        attachments = json.loads(archive.read("mail_attachments.json"))
        waiting = json.loads(archive.read("waiting_mails.json"))
        touchpoints = archive.read("touchpoints.json").decode()
        sent = json.loads(archive.read("sent_mails.json"))
    assert sorted(m["from_address"] for m in mails) == [
        "crm@localhost",
        "erin.mail@example.com",
    ]
    assert [(m["subject"], m["body"]) for m in sent] == [("Your order", "It ships today.")]
    assert [a["filename"] for a in attachments] == ["order.csv"]
    assert [w["address"] for w in waiting] == ["erin.private@example.com"]
    assert "Order 4711" in touchpoints and "Other" not in touchpoints

    before = (
        _count(session, MailMessage),
        _count(session, TriageEntry),
        _count(session, OutboxMail),
    )
    stored = session.exec(select(MailAttachment.stored_name)).one()
    erased = erasure.erase_request(
        session,
        found=_request(session, contact, "erasure"),
        data=ErasureRequest(),
        actor_id=None,
    )
    assert erased.attachment_files == [stored]  # deleted once the erasure commits

    assert _count(session, OutboxMail) == before[2] - 1
    assert (_count(session, MailMessage), _count(session, TriageEntry)) == (
        before[0] - 2,
        before[1] - 1,
    )
    assert (
        _count(session, MailAttachment) == 0
        or not session.exec(
            select(MailAttachment).where(MailAttachment.filename == "order.csv")
        ).first()
    )
    assert session.exec(
        select(MailMessage).where(MailMessage.from_address == other.emails[0])
    ).one()
