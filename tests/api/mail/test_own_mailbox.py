"""A user's own mailbox, set up by themselves: through /api/v1/me/mailbox and on their
profile, read from the real Dovecot."""

from sqlmodel import select

from crm.mail import jobs
from crm.mail.models import Mailbox, OutboxMail
from crm.users.models import Role
from tests import mailboxes, mailservers
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_contact, make_token, make_user


def connection(address: str, **fields) -> dict:
    return {
        "address": address,
        "host": mailservers.HOST,
        "port": mailservers.IMAP_PORT,
        "security": "none",
        "username": address,
        "password": mailservers.PASSWORD,
        "folders": ["INBOX", "Sent"],
        **fields,
    }


class TestOwnMailboxApi:
    def test_a_rep_connects_reads_changes_and_removes_their_mailbox(self, client, session):
        rep = make_user(session, roles=(Role.SALES_REP,), name="Rosa Rep")
        headers = {"Authorization": f"Bearer {make_token(session, rep)}"}
        box = mailboxes.account("rosa")
        contact = make_contact(session)
        mailboxes.append(
            box, mailboxes.mail(sender=box, to=contact.emails[0], subject="My offer"), "Sent"
        )
        assert client.get("/api/v1/me/mailbox", headers=headers).status_code == 404

        saved = client.put("/api/v1/me/mailbox", headers=headers, json=connection(box))
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert (body["kind"], body["owner_id"], body["name"]) == ("personal", rep.id, "Rosa Rep")
        assert "password" not in body
        read = client.post("/api/v1/me/mailbox/read", headers=headers).json()
        assert (read["read"], read["touchpoints"], read["error"]) == (1, 1, None)
        [mail] = client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=headers).json()[
            "items"
        ]
        assert (mail["summary"], mail["direction"], mail["logged_by_id"]) == (
            "My offer",
            "outbound",
            rep.id,
        )
        # Mail written in the CRM goes out from the rep's own address.
        queued = client.post(
            "/api/v1/emails",
            headers=headers,
            json={"contact_id": contact.id, "subject": "Hi", "body": "Text"},
        )
        assert queued.json()["from_address"] == box

        changed = client.put("/api/v1/me/mailbox", headers=headers, json={"password": "wrong"})
        assert changed.status_code == 200 and changed.json()["host"] == mailservers.HOST
        failed = client.post("/api/v1/me/mailbox/read", headers=headers).json()
        assert failed["error"] == "The server refused the user name or password."
        assert session.exec(select(Mailbox).where(Mailbox.owner_id == rep.id)).one()

        assert client.delete("/api/v1/me/mailbox", headers=headers).status_code == 204
        assert client.get("/api/v1/me/mailbox", headers=headers).status_code == 404
        assert client.delete("/api/v1/me/mailbox", headers=headers).status_code == 404

    def test_bad_or_taken_settings_are_refused_and_nothing_is_kept(self, client, session):
        rep = make_user(session)
        headers = {"Authorization": f"Bearer {make_token(session, rep)}"}
        box = mailboxes.account("taken")
        missing = client.put(
            "/api/v1/me/mailbox", headers=headers, json={"address": box, "host": "x"}
        )
        assert missing.status_code == 422 and missing.json()["field"] == "username"
        bad_port = client.put("/api/v1/me/mailbox", headers=headers, json=connection(box, port=0))
        assert bad_port.status_code == 422
        sneaky = client.put("/api/v1/me/mailbox", headers=headers, json=connection(box, owner_id=1))
        assert sneaky.status_code == 422

        other = make_user(session)
        other_headers = {"Authorization": f"Bearer {make_token(session, other)}"}
        assert (
            client.put("/api/v1/me/mailbox", headers=other_headers, json=connection(box))
        ).status_code == 200
        taken = client.put("/api/v1/me/mailbox", headers=headers, json=connection(box))
        assert taken.status_code == 409
        assert client.get("/api/v1/me/mailbox", headers=headers).status_code == 404

    def test_a_dpo_alone_has_no_mailbox_of_their_own_here(self, client, session):
        dpo = make_user(session, roles=(Role.DPO,))
        headers = {"Authorization": f"Bearer {make_token(session, dpo)}"}
        box = mailboxes.account("dpo")
        assert (
            client.put("/api/v1/me/mailbox", headers=headers, json=connection(box))
        ).status_code == 403


class TestOwnMailboxPage:
    def test_a_rep_connects_their_mailbox_on_their_profile(self, client, session):
        rep = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
        login(client, rep.email, PASSWORD)
        box = mailboxes.account("page")
        contact = make_contact(session)
        mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject="Thanks"))
        assert 'href="/profile/mailbox"' in client.get("/profile").text
        page = client.get("/profile/mailbox").text
        assert f'value="{rep.email}"' in page  # their login address, to start from

        form = {
            "address": box,
            "host": mailservers.HOST,
            "port": str(mailservers.IMAP_PORT),
            "security": "none",
            "username": box,
            "password": mailservers.PASSWORD,
            "folders": "INBOX",
            "is_active": "true",
        }
        bad = post_form(
            client, "/profile/mailbox", form | {"password": ""}, form_page="/profile/mailbox"
        )
        assert bad.status_code == 422 and f'value="{box}"' in bad.text
        saved = post_form(client, "/profile/mailbox", form, form_page="/profile/mailbox")
        assert saved.status_code == 303
        assert "waiting for the first run" in client.get("/profile/mailbox").text

        post_form(client, "/profile/mailbox/read", form_page="/profile/mailbox")
        page = client.get("/profile/mailbox").text
        assert "New mails read: 1; touchpoints: 1; to triage: 0." in page and "working" in page
        assert "Thanks" in client.get(f"/contacts/{contact.id}").text

        post_form(client, "/profile/mailbox/delete", form_page="/profile/mailbox")
        assert "Your mailbox is no longer read." in client.get("/profile/mailbox").text
        assert session.exec(select(Mailbox).where(Mailbox.address == box)).first() is None
        assert session.exec(select(OutboxMail)).all() == []


class TestErrorsInTheReadersLanguage:
    def test_a_mailbox_and_a_mail_that_failed_say_why_in_german(
        self, client, session, settings, open_session, monkeypatch
    ):
        rep = make_user(session, roles=(Role.SALES_REP,), language="de")
        login(client, rep.email, PASSWORD)
        headers = {"Authorization": f"Bearer {make_token(session, rep)}"}
        box = mailboxes.account("deutsch")
        client.put("/api/v1/me/mailbox", headers=headers, json=connection(box, password="x"))
        post_form(client, "/profile/mailbox/read", form_page="/profile/mailbox")
        page = client.get("/profile/mailbox").text
        assert "Der Server hat den Benutzernamen oder das Passwort abgelehnt." in page
        api = client.get("/api/v1/me/mailbox", headers=headers).json()
        assert api["last_error"] == "The server refused the user name or password."

        monkeypatch.setattr(settings, "smtp_host", mailservers.HOST)
        monkeypatch.setattr(settings, "smtp_port", 1)
        contact = make_contact(session)
        client.post(
            "/api/v1/emails",
            headers=headers,
            json={"contact_id": contact.id, "subject": "Angebot", "body": "Text"},
        )
        jobs.send_outbox(open_session, settings=settings)
        timeline = client.get(f"/contacts/{contact.id}").text
        assert "Nicht gesendet: Der Mailserver ist nicht erreichbar:" in timeline
