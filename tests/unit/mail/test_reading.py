"""Reading mailboxes on the real Dovecot: mail becomes touchpoints on the right timelines,
once, threaded; mail from strangers waits in triage; a broken mailbox says why."""

import os
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from crm.contacts.models import ContactCreate
from crm.mail import files, jobs
from crm.mail import service as mail_service
from crm.mail.models import MailAttachment, MailboxFolder, MailMessage, TriageEntry
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Channel, Touchpoint, TouchpointCreate
from tests import mailboxes
from tests.factories import make_contact, make_user


def _read(session, mailbox, settings):
    return mail_service.read_now(session, mailbox=mailbox, settings=settings)


def _touchpoints(session, contact):
    query = select(Touchpoint).where(Touchpoint.contact_id == contact.id)
    return list(session.exec(query.order_by(col(Touchpoint.occurred_at))))


def _mail_of(session, touchpoint):
    return session.get(MailMessage, touchpoint.id)


def test_a_customers_mail_becomes_a_touchpoint_on_their_timeline(session, settings):
    box = mailboxes.account("sales")
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session, emails=["Anna.Customer@Example.com"])
    sent = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    mailboxes.append(
        box,
        mailboxes.mail(
            sender="Anna <ANNA.customer@example.com>",
            to=box,
            subject="About the offer",
            body="Yes, we take it.\n\nOn Monday, Sales wrote:\n> Here is our offer.\n",
            date=sent,
        ),
    )

    result = _read(session, mailbox, settings)

    assert (result.read, result.touchpoints, result.triaged, result.error) == (1, 1, 0, None)
    [touchpoint] = _touchpoints(session, contact)
    assert session.get(Channel, touchpoint.channel_id).key == "email"
    assert (touchpoint.direction, touchpoint.initiated_by) == ("inbound", "customer")
    assert touchpoint.summary == "About the offer"
    assert touchpoint.notes == "Yes, we take it."
    assert touchpoint.occurred_at == sent
    assert touchpoint.company_id == contact.company_id
    mail = _mail_of(session, touchpoint)
    assert mail.from_address == "anna.customer@example.com"
    assert mail.quoted.startswith("On Monday, Sales wrote:")
    assert mailbox.last_error is None and mailbox.checked_at is not None


def test_a_mail_is_taken_once_however_often_and_wherever_it_is_read(session, settings):
    shared, personal = mailboxes.account("team"), mailboxes.account("rep")
    first = mailboxes.make_mailbox(session, address=shared, secret_key=settings.secret_key)
    second = mailboxes.make_mailbox(session, address=personal, secret_key=settings.secret_key)
    contact = make_contact(session)
    message = mailboxes.mail(sender=contact.emails[0], to=[shared, personal])
    mailboxes.append(shared, message)
    mailboxes.append(personal, message)

    assert _read(session, first, settings).touchpoints == 1
    assert _read(session, first, settings).read == 0
    again = _read(session, second, settings)

    assert (again.read, again.touchpoints) == (1, 0)
    assert len(_touchpoints(session, contact)) == 1


def test_a_rebuilt_folder_is_read_again_without_doubles(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject="One"))
    _read(session, mailbox, settings)
    state = session.exec(select(MailboxFolder).where(MailboxFolder.mailbox_id == mailbox.id)).one()
    state.uidvalidity += 1  # as after the server rebuilt the folder
    session.add(state)
    mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject="Two"))

    result = _read(session, mailbox, settings)

    assert (result.read, result.touchpoints) == (2, 1)
    assert [t.summary for t in _touchpoints(session, contact)] == ["One", "Two"]


def test_an_outbound_mail_lands_on_every_addressed_contacts_timeline(session, settings):
    rep = make_user(session, email="rep.mail@example.com")
    box = mailboxes.account("rep")
    mailbox = mailboxes.make_mailbox(
        session, address=box, secret_key=settings.secret_key, kind="personal", owner_id=rep.id
    )
    buyer, colleague = make_contact(session), make_contact(session)
    mailboxes.append(
        box,
        mailboxes.mail(
            sender=rep.email, to=buyer.emails[0], cc=[colleague.emails[0], "x@elsewhere.example"]
        ),
        folder="Sent",
    )
    mailbox.folders = ["INBOX", "Sent"]

    result = _read(session, mailbox, settings)

    assert result.touchpoints == 2
    for contact in (buyer, colleague):
        [touchpoint] = _touchpoints(session, contact)
        assert (touchpoint.direction, touchpoint.initiated_by) == ("outbound", "company")
        assert touchpoint.logged_by_id == rep.id


def test_mail_from_a_third_party_about_a_contact_says_so(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    mailboxes.append(
        box, mailboxes.mail(sender="agency@partner.example", to=box, cc=[contact.emails[0]])
    )

    _read(session, mailbox, settings)

    [touchpoint] = _touchpoints(session, contact)
    assert (touchpoint.direction, touchpoint.initiated_by) == ("inbound", "third_party")


def test_replies_share_their_conversation(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    first = mailboxes.mail(sender=box, to=contact.emails[0], subject="Offer")
    reply = mailboxes.mail(
        sender=contact.emails[0], to=box, subject="Re: Offer", in_reply_to=first["Message-ID"]
    )
    other = mailboxes.mail(sender=contact.emails[0], to=box, subject="Something else")
    for message in (first, reply, other):
        mailboxes.append(box, message)
    # Read later, naming only the mail it answers (no full References): still the same.
    again = mailboxes.mail(
        sender=box, to=contact.emails[0], subject="Re: Re: Offer", in_reply_to=reply["Message-ID"]
    )

    _read(session, mailbox, settings)
    mailboxes.append(box, again)
    _read(session, mailbox, settings)

    key = {t.summary: _mail_of(session, t).thread_key for t in _touchpoints(session, contact)}
    assert key["Offer"] == key["Re: Offer"] == key["Re: Re: Offer"] != key["Something else"]


def test_mail_from_a_stranger_waits_in_triage_until_someone_decides(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    for subject in ("Question", "Another question"):
        mailboxes.append(
            box, mailboxes.mail(sender="Nina New <nina.new@example.com>", to=box, subject=subject)
        )

    result = _read(session, mailbox, settings)

    assert (result.touchpoints, result.triaged) == (0, 2)
    entry = session.exec(
        select(TriageEntry).where(TriageEntry.address == "nina.new@example.com")
    ).first()
    assert entry.name == "Nina New"
    contact, taken = mail_service.create_contact_from(
        session,
        entry=entry,
        data=ContactCreate(first_name="Nina", last_name="New"),
        actor_id=None,
    )
    assert taken == 2
    assert contact.emails == ["nina.new@example.com"]
    assert sorted(t.summary for t in _touchpoints(session, contact)) == [
        "Another question",
        "Question",
    ]
    assert mail_service.triage_count(session) == 0


def test_an_ignored_sender_is_never_kept_again(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    mailboxes.append(box, mailboxes.mail(sender="spam@junk.example", to=box))
    _read(session, mailbox, settings)
    [entry] = session.exec(select(TriageEntry).where(TriageEntry.mailbox_id == mailbox.id)).all()

    assert mail_service.ignore_sender(session, entry=entry, actor_id=None) == 1
    mailboxes.append(box, mailboxes.mail(sender="SPAM@junk.example", to=box))
    result = _read(session, mailbox, settings)

    assert (result.read, result.triaged) == (1, 0)
    assert mail_service.triage_count(session) == 0


def test_a_large_mail_is_kept_as_a_stub_with_its_size(session, settings, monkeypatch):
    monkeypatch.setattr(settings, "mail_max_mb", 1)
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    big = mailboxes.mail(sender=contact.emails[0], to=box, subject="Big", body="x" * 10)
    big.add_attachment(b"\0" * 1_500_000, maintype="application", subtype="zip", filename="a.zip")
    mailboxes.append(box, big)

    _read(session, mailbox, settings)

    [touchpoint] = _touchpoints(session, contact)
    mail = _mail_of(session, touchpoint)
    assert touchpoint.summary == "Big" and touchpoint.notes is None
    assert mail.is_stub and mail.size_bytes > 1_500_000


def test_attachments_are_named_with_their_sizes(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    message = mailboxes.mail(sender=contact.emails[0], to=box)
    message.add_attachment(
        b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="o.pdf"
    )
    mailboxes.append(box, message)

    _read(session, mailbox, settings)

    [touchpoint] = _touchpoints(session, contact)
    [attachment] = session.exec(
        select(MailAttachment).where(MailAttachment.touchpoint_id == touchpoint.id)
    ).all()
    assert (attachment.filename, attachment.content_type, attachment.size_bytes) == (
        "o.pdf",
        "application/pdf",
        13,
    )
    assert attachment.stored_name is None  # the mailbox keeps no files


def test_a_mailbox_that_keeps_files_keeps_those_within_its_limit(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(
        session,
        address=box,
        secret_key=settings.secret_key,
        keep_attachments=True,
        attachment_max_mb=1,
    )
    contact = make_contact(session)
    message = mailboxes.mail(sender=contact.emails[0], to=box)
    message.add_attachment(b"small", maintype="text", subtype="plain", filename="a.txt")
    message.add_attachment(b"x" * (1024 * 1024 + 1), maintype="application", subtype="zip")
    mailboxes.append(box, message)
    # A stranger's mail waits in triage with its attachments' names and sizes only.
    stranger = mailboxes.mail(sender="someone@unknown.example", to=box)
    stranger.add_attachment(b"theirs", maintype="text", subtype="plain", filename="b.txt")
    mailboxes.append(box, stranger)

    _read(session, mailbox, settings)

    [touchpoint] = _touchpoints(session, contact)
    small, large = session.exec(
        select(MailAttachment)
        .where(MailAttachment.touchpoint_id == touchpoint.id)
        .order_by(col(MailAttachment.id))
    ).all()
    folder = files.directory(settings)
    assert files.file_of(folder, small).read_bytes() == b"small"
    assert large.stored_name is None and large.size_bytes == 1024 * 1024 + 1
    [waiting] = session.exec(select(TriageEntry)).all()
    assert waiting.mail["attachments"] == [
        {"filename": "b.txt", "content_type": "text/plain", "size_bytes": 6}
    ]


def test_files_no_mail_names_go_with_the_daily_sweep(session, settings):
    folder = files.directory(settings)
    kept = files.store(folder, b"kept")
    session.add(
        MailAttachment(
            touchpoint_id=_a_touchpoint(session).id,
            filename="k.txt",
            content_type="text/plain",
            size_bytes=4,
            stored_name=kept,
        )
    )
    session.flush()
    old, fresh = files.store(folder, b"orphan"), files.store(folder, b"just written")
    day_ago = time.time() - files.SWEEP_AFTER_SECONDS - 60
    for name in (kept, old):
        os.utime(folder / name, (day_ago, day_ago))

    assert files.sweep(session, folder=folder) == 1
    assert sorted(p.name for p in folder.iterdir() if p.name in {kept, old, fresh}) == sorted(
        [kept, fresh]
    )


def _a_touchpoint(session):
    return touchpoint_service.log_touchpoint(
        session,
        data=TouchpointCreate(contact_id=make_contact(session).id, channel="email", summary="x"),
        actor_id=None,
    )


def test_broken_mail_is_read_as_far_as_it_goes(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    sender = contact.emails[0].encode()
    broken = [
        # an unknown charset, a header in a bogus encoding, no date
        b"From: " + sender + b"\r\nSubject: =?bogus?q?Caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nCaf\xe9 ok\r\n",
        # a multipart without its parts, a date that is no date
        b"From: " + sender + b"\r\nSubject: Parts\r\nDate: not a date at all\r\n"
        b"Content-Type: multipart/mixed; boundary=gone\r\n\r\nno parts at all\r\n",
        # a date in the future
        b"From: " + sender + b"\r\nSubject: Later\r\nDate: Fri, 1 Jan 2100 10:00:00 +0000\r\n\r\nx",
    ]
    for raw in broken:
        mailboxes.append(box, raw)
    before = datetime.now(UTC)

    result = _read(session, mailbox, settings)

    assert (result.read, result.touchpoints, result.error) == (3, 3, None)
    touchpoints = _touchpoints(session, contact)
    assert all(t.occurred_at <= before + timedelta(minutes=1) for t in touchpoints)
    assert "Caf" in next(t.notes for t in touchpoints if t.notes and t.notes.startswith("Caf"))


def test_a_mailbox_reads_at_most_its_batch_per_run(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(
        session, address=box, secret_key=settings.secret_key, batch_size=2
    )
    contact = make_contact(session)
    for n in range(3):
        mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject=f"M{n}"))

    assert _read(session, mailbox, settings).read == 2
    assert _read(session, mailbox, settings).read == 1
    assert len(_touchpoints(session, contact)) == 3


def test_a_wrong_password_or_a_missing_folder_is_shown_and_the_rest_goes_on(
    session, settings, open_session
):
    wrong, good = mailboxes.account("wrong"), mailboxes.account("good")
    broken = mailboxes.make_mailbox(
        session, address=wrong, secret_key=settings.secret_key, password="not-the-password"
    )
    working = mailboxes.make_mailbox(
        session, address=good, secret_key=settings.secret_key, folders=["Gone", "INBOX"]
    )
    contact = make_contact(session)
    mailboxes.append(good, mailboxes.mail(sender=contact.emails[0], to=good))

    results = {r.mailbox_id: r for r in jobs.read_mailboxes(open_session, settings=settings)}

    session.refresh(broken)
    session.refresh(working)
    assert broken.last_error == "The server refused the user name or password."
    assert broken.last_problems == [
        {"message": "The server refused the user name or password.", "params": {}}
    ]
    assert results[broken.id].read == 0
    assert "“Gone”" in working.last_error
    [missing] = working.last_problems
    assert missing["message"] == "The folder “%(folder)s” cannot be opened: %(reason)s"
    assert missing["params"]["folder"] == "Gone"
    assert results[working.id].touchpoints == 1
    assert len(_touchpoints(session, contact)) == 1


def test_an_unreachable_server_is_shown(session, settings):
    mailbox = mailboxes.make_mailbox(
        session, address=mailboxes.account(), secret_key=settings.secret_key, port=1
    )

    result = _read(session, mailbox, settings)

    assert result.error.startswith("The server 127.0.0.1:1 cannot be reached")


def test_old_triage_entries_go_after_the_days_the_dpo_set(session, settings):
    box = mailboxes.account()
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    mailboxes.append(box, mailboxes.mail(sender="someone@unknown.example", to=box))
    _read(session, mailbox, settings)
    assert mail_service.purge_triage(session, before=datetime.now(UTC) - timedelta(days=1)) == 0

    assert mail_service.purge_triage(session, before=datetime.now(UTC) + timedelta(days=1)) == 1
