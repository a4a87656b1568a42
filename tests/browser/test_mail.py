"""Mail in the browser: an admin connects the team's mailbox on the real Dovecot; a
customer's reply, sent through the SMTP server, shows on their timeline as one
conversation with our mail; a stranger's mail is triaged into a new contact."""

import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.core.db import job_session
from crm.mail import jobs
from crm.mail.models import MailMessage, OutboxMail
from crm.users import service as user_service
from crm.users.models import Role
from tests import mailboxes, mailservers
from tests.conftest import TEST_SECRET, make_settings


def test_an_admin_connects_a_mailbox_and_a_reply_shows_as_a_conversation(live_server, page: Page):
    box = mailboxes.account("team")
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(
                first_name="Carla", last_name="Mailer", emails=["carla@mail.example"]
            ),
            actor_id=None,
        )
        session.commit()
        contact_id = contact.id
    offer = mailboxes.mail(
        sender=box,
        to="carla@mail.example",
        subject="Our offer",
        body="Here is our offer.",
        date=datetime.now(UTC) - timedelta(hours=2),
    )
    mailboxes.append(box, offer, folder="Sent")
    mailboxes.send(
        mailboxes.mail(
            sender="Carla Mailer <carla@mail.example>",
            to=box,
            subject="Re: Our offer",
            body="We accept.\n\nOn Monday, Team wrote:\n> Here is our offer.\n",
            in_reply_to=offer["Message-ID"],
            date=datetime.now(UTC) - timedelta(hours=1),
        )
    )

    live_server.log_in_as_new_user(page, email="mia@example.com", name="Mia Admin", role=Role.ADMIN)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mail").click()
    page.get_by_role("link", name="Mailboxes").click()
    page.get_by_role("link", name="New mailbox").click()
    page.get_by_label("Name", exact=True).fill("Team")
    page.get_by_label("Address").fill(box)
    page.get_by_label("IMAP server").fill(mailservers.HOST)
    page.get_by_label("Port", exact=True).fill(str(mailservers.IMAP_PORT))
    page.get_by_label("Security").select_option("none")
    page.get_by_label("User name").fill(box)
    page.get_by_label("Password", exact=True).fill(mailservers.PASSWORD)
    page.get_by_label("Folders to read").fill("INBOX, Sent")
    page.get_by_role("button", name="Add mailbox").click()
    expect(page.get_by_text("Mailbox Team saved.")).to_be_visible()

    page.get_by_role("button", name="Read now").click()
    expect(page.get_by_text("New mails read: 2; touchpoints: 2; to triage: 0.")).to_be_visible()
    expect(page.get_by_text("working")).to_be_visible()

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    reply = page.locator(".touchpoint", has_text="Re: Our offer")
    expect(reply.get_by_text("We accept.")).to_be_visible()
    expect(reply.get_by_text("On Monday, Team wrote:")).to_be_hidden()
    reply.get_by_text("Quoted text").first.click()
    expect(reply.get_by_text("On Monday, Team wrote:")).to_be_visible()
    earlier = reply.get_by_text("1 earlier mail in this conversation")
    expect(earlier).to_be_visible()
    expect(reply.get_by_text("Here is our offer.").last).to_be_hidden()
    earlier.click()
    expect(reply.get_by_text("Here is our offer.").last).to_be_visible()


def test_a_rep_turns_a_strangers_mail_into_a_contact(live_server, page: Page):
    box = mailboxes.account("inbox")
    mailboxes.send(
        mailboxes.mail(
            sender="Tom Stranger <tom.stranger@mail.example>",
            to=box,
            subject="Do you ship to Austria?",
        )
    )
    with live_server.session() as session:
        mailbox_id = mailboxes.make_mailbox(session, address=box, secret_key=TEST_SECRET).id
    live_server.log_in_as_new_user(
        page, email="ada.triage@example.com", name="Ada Admin", role={Role.ADMIN, Role.SALES_REP}
    )
    page.goto(f"{live_server.url}/mailboxes/{mailbox_id}")
    page.get_by_role("button", name="Read now").click()
    expect(page.get_by_text("to triage: 1.")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mail").click()
    entry = page.locator(".triage li", has_text="Do you ship to Austria?")
    entry.get_by_text("Create a contact").click()
    expect(entry.get_by_label("First name")).to_have_value("Tom")
    expect(entry.get_by_label("Last name")).to_have_value("Stranger")
    entry.get_by_role("button", name="Create contact").click()

    expect(page).to_have_url(re.compile(r"/contacts/\d+$"))
    expect(page.get_by_text("Contact created; their mail is on their timeline.")).to_be_visible()
    expect(page.get_by_text("Do you ship to Austria?").first).to_be_visible()
    expect(page.get_by_text("tom.stranger@mail.example").first).to_be_visible()


def test_a_rep_sends_a_mail_and_the_customers_reply_arrives_threaded(live_server, page: Page):
    box = mailboxes.account("rep")
    customer = mailboxes.account("customer", "customers.example")
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(first_name="Rhea", last_name="Reply", emails=[customer]),
            actor_id=None,
        )
        session.commit()
        contact_id = contact.id
    live_server.log_in_as_new_user(
        page, email="sam.sales@example.com", name="Sam Sales", role={Role.SALES_REP, Role.ADMIN}
    )
    with live_server.session() as session:
        owner = user_service.get_user_by_email(session, email="sam.sales@example.com")
        mailbox_id = mailboxes.make_mailbox(
            session, address=box, secret_key=TEST_SECRET, kind="personal", owner_id=owner.id
        ).id

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    page.get_by_text("Send an e-mail").click()
    page.get_by_label("Subject").fill("Your quote")
    page.get_by_label("Text").fill("Here is the quote you asked for.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Mail queued: it goes out within a minute.")).to_be_visible()
    expect(page.get_by_text("Waiting to go out.")).to_be_visible()

    settings = make_settings(Path(), str(live_server.engine.url))  # to send with
    settings.smtp_host, settings.smtp_port = mailservers.HOST, mailservers.SMTP_PORT
    assert jobs.send_outbox(lambda: job_session(live_server.engine), settings=settings) == 1
    with mailboxes.imap(customer) as client:
        client.select_folder("INBOX")
        [uid] = client.search("ALL")
        ours = client.fetch([uid], ["BODY[HEADER.FIELDS (MESSAGE-ID)]"])[uid]
    message_id = ours[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
    mailboxes.send(
        mailboxes.mail(
            sender=customer,
            to=box,
            subject="Re: Your quote",
            body="Thanks, we take it.\n\nOn Monday, Sam Sales wrote:\n> Here is the quote.\n",
            in_reply_to=message_id,
            # Later than ours, beyond the second that the server's own date would give.
            date=datetime.now(UTC) + timedelta(seconds=30),
        )
    )

    page.goto(f"{live_server.url}/mailboxes/{mailbox_id}")
    page.get_by_role("button", name="Read now").click()
    expect(page.get_by_text("touchpoints: 1;")).to_be_visible()
    page.goto(f"{live_server.url}/contacts/{contact_id}")
    reply = page.locator(".touchpoint", has_text="Re: Your quote")
    expect(reply.get_by_text("Thanks, we take it.")).to_be_visible()
    reply.get_by_text("1 earlier mail in this conversation").click()
    expect(reply.get_by_text("Here is the quote you asked for.").last).to_be_visible()
    expect(reply.locator(".mail-status")).to_contain_text("Sent ")
    # Answering from the timeline keeps the conversation together.
    reply.get_by_role("link", name="Reply").first.click()
    expect(page.get_by_label("Subject")).to_have_value("Re: Your quote")
    expect(page.get_by_text("it joins that conversation")).to_be_visible()
    page.get_by_label("Text").fill("Great, the contract follows.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Mail queued: it goes out within a minute.")).to_be_visible()
    latest = page.locator(".touchpoint").first
    expect(latest.get_by_text("Great, the contract follows.")).to_be_visible()
    expect(latest.get_by_text("2 earlier mails in this conversation")).to_be_visible()

    # The DPO's export holds both mails; the erasure takes both.
    live_server.log_in_as_new_user(
        page, email="dana.dpo@example.com", name="Dana DPO", role=Role.DPO
    )
    for kind in ("access", "erasure"):
        page.goto(f"{live_server.url}/privacy/requests/new")
        page.get_by_label("Kind").select_option(kind)
        page.get_by_label("From (name)").fill("Rhea Reply")
        finder = page.get_by_role("group", name="The contact in the CRM")
        finder.get_by_label("Find by name, e-mail or phone").fill("Rhea")
        finder.get_by_role("radio", name="Rhea Reply").check()
        page.get_by_role("button", name="Record the request").click()
        page.get_by_role("button", name="Identity verified: start").click()
        if kind == "access":
            page.get_by_role("button", name="Make the export").click()
            with page.expect_download() as download:
                page.get_by_role("link", name=re.compile("Download the export")).click()
            with zipfile.ZipFile(download.value.path()) as archive:
                subjects = {m["subject"] for m in json.loads(archive.read("sent_mails.json"))}
                mails = json.loads(archive.read("mails.json"))
            assert {"Your quote", "Re: Your quote"} <= subjects
            assert customer in {m["from_address"] for m in mails}
        else:
            page.get_by_role("button", name="Erase now").click()
            expect(page.get_by_text("Erased.")).to_be_visible()
    with live_server.session() as session:
        left = session.exec(
            select(MailMessage).where(col(MailMessage.from_address).in_([customer, box]))
        ).all()
        assert left == []
        assert session.exec(select(OutboxMail).where(OutboxMail.to_address == customer)).all() == []


def test_an_admin_writes_a_template_and_a_rep_mails_from_it(live_server, page: Page):
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(
                first_name="Greta",
                last_name="Gruen",
                language="de",
                emails=["greta@customers.example"],
            ),
            actor_id=None,
        )
        session.commit()
        contact_id = contact.id
    live_server.log_in_as_new_user(
        page, email="tina.templates@example.com", name="Tina", role={Role.ADMIN, Role.SALES_REP}
    )
    page.goto(f"{live_server.url}/profile")
    page.get_by_label("Signature for your mails").fill("Tina\nCustomer Care")
    page.get_by_role("button", name="Save preferences").click()

    page.goto(f"{live_server.url}/mailboxes")
    page.get_by_role("link", name="Mail templates").click()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name", exact=True).fill("Check-in")
    english = page.get_by_role("group", name="English")
    english.get_by_label("Subject").fill("How is it going, {{ contact.first_name }}?")
    english.get_by_label("Text").fill("Hello {{ contact.first_name }},\n\n{{ user.signature }}")
    german = page.get_by_role("group", name="Deutsch")
    german.get_by_label("Subject").fill("Wie läuft es, {{ contact.first_name }}?")
    german.get_by_label("Text").fill("Hallo {{ contact.first_name }},\n\n{{ user.signature }}")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#template-preview")
    expect(preview.get_by_text("How is it going, Ada?")).to_be_visible()
    expect(preview.get_by_text("Wie läuft es, Ada?")).to_be_visible()
    page.get_by_role("button", name="Add template").click()
    expect(page.get_by_text("Template Check-in saved.")).to_be_visible()

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    page.get_by_role("link", name="Send an e-mail").click()
    page.get_by_label("Template").select_option(label="Check-in")
    page.get_by_role("button", name="Use template").click()
    expect(page.get_by_label("Subject")).to_have_value("Wie läuft es, Greta?")
    expect(page.get_by_label("Text")).to_have_value("Hallo Greta,\n\nTina\nCustomer Care")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Mail queued: it goes out within a minute.")).to_be_visible()
    latest = page.locator(".touchpoint").first
    expect(latest.get_by_text("Wie läuft es, Greta?").first).to_be_visible()
    expect(latest.get_by_text("Hallo Greta,")).to_be_visible()
