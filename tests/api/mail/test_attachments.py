"""Attachment files of mail, where an admin has a mailbox keep them: switched on on the
mailbox, downloaded from the timeline and through the API, never shown as a page."""

from sqlmodel import select

from crm.mail import service as mail_service
from crm.mail.models import MailAttachment
from crm.users.models import Role
from tests import mailboxes
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_contact, make_token, make_user


def test_an_admin_keeps_files_and_a_rep_downloads_one(client, session, settings):
    admin = make_user(session, roles=(Role.ADMIN,))
    admin_headers = {"Authorization": f"Bearer {make_token(session, admin)}"}
    box = mailboxes.account("files")
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    kept = client.patch(
        f"/api/v1/mailboxes/{mailbox.id}",
        headers=admin_headers,
        json={"keep_attachments": True, "attachment_max_mb": 2},
    ).json()
    assert (kept["keep_attachments"], kept["attachment_max_mb"]) == (True, 2)
    assert (
        client.patch(
            f"/api/v1/mailboxes/{mailbox.id}", headers=admin_headers, json={"attachment_max_mb": 0}
        ).status_code
        == 422
    )
    contact = make_contact(session)
    message = mailboxes.mail(sender=contact.emails[0], to=box, subject="The plan")
    message.add_attachment(
        b"<script>alert(1)</script>", maintype="text", subtype="html", filename="plan.html"
    )
    mailboxes.append(box, message)
    session.refresh(mailbox)
    mail_service.read_now(session, mailbox=mailbox, settings=settings)
    attachment = session.exec(select(MailAttachment)).one()

    rep = make_user(session)
    headers = {"Authorization": f"Bearer {make_token(session, rep)}"}
    url = f"/api/v1/touchpoints/{attachment.touchpoint_id}/attachments/{attachment.id}"
    described = client.get(f"/api/v1/touchpoints/{attachment.touchpoint_id}/mail", headers=headers)
    assert described.json()["attachments"][0]["stored"] is True
    got = client.get(url, headers=headers)
    assert got.status_code == 200 and got.content == b"<script>alert(1)</script>"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert 'filename="plan.html"' in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff"
    wrong = f"/api/v1/touchpoints/{attachment.touchpoint_id + 999}/attachments/{attachment.id}"
    assert client.get(wrong, headers=headers).status_code == 404

    login(client, rep.email, PASSWORD)
    page = client.get(f"/contacts/{contact.id}").text
    link = f"/touchpoints/{attachment.touchpoint_id}/attachments/{attachment.id}"
    assert f'href="{link}" download' in page
    assert client.get(link).content == b"<script>alert(1)</script>"


def test_without_a_kept_file_the_download_says_so(client, session, settings):
    box = mailboxes.account("nofiles")
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    contact = make_contact(session)
    message = mailboxes.mail(sender=contact.emails[0], to=box)
    message.add_attachment(b"data", maintype="text", subtype="csv", filename="order.csv")
    mailboxes.append(box, message)
    mail_service.read_now(session, mailbox=mailbox, settings=settings)
    attachment = session.exec(select(MailAttachment)).one()
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    url = f"/api/v1/touchpoints/{attachment.touchpoint_id}/attachments/{attachment.id}"
    missing = client.get(url, headers=headers)
    assert missing.status_code == 404
    assert "only its name and size" in missing.json()["detail"]


def test_the_mailbox_page_switches_files_on(client, session, settings):
    admin = make_user(session, roles=(Role.ADMIN,))
    login(client, admin.email, PASSWORD)
    box = mailboxes.account("switch")
    mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
    url = f"/mailboxes/{mailbox.id}"
    form = {
        "name": "Switch",
        "kind": "shared",
        "address": box,
        "host": mailbox.host,
        "port": str(mailbox.port),
        "security": "none",
        "username": box,
        "folders": "INBOX",
        "batch_size": "500",
        "keep_attachments": "true",
        "attachment_max_mb": "3",
        "is_active": "true",
    }
    assert post_form(client, url, form, form_page=url).status_code == 303
    session.refresh(mailbox)
    assert (mailbox.keep_attachments, mailbox.attachment_max_mb) == (True, 3)
    assert post_form(client, url, form | {"keep_attachments": ""}, form_page=url).status_code == 303
    session.refresh(mailbox)
    assert mailbox.keep_attachments is False
