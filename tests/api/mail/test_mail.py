"""Mailboxes, the triage inbox and mail on the timeline, through the JSON API and the
pages, against the real Dovecot."""

import pytest
from sqlmodel import select

from crm.mail import jobs
from crm.mail.models import Mailbox, OutboxMail
from crm.users.models import Role
from tests import mailboxes, mailservers
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_company, make_contact, make_token, make_user


def bearer(session, role: Role = Role.ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


def mailbox_json(address: str, **fields) -> dict:
    return {
        "name": "Sales",
        "address": address,
        "host": mailservers.HOST,
        "port": mailservers.IMAP_PORT,
        "security": "none",
        "username": address,
        "password": mailservers.PASSWORD,
        **fields,
    }


class TestMailboxApi:
    def test_an_admin_adds_reads_changes_and_deletes_a_mailbox(self, client, session):
        headers = bearer(session)
        box = mailboxes.account("sales")
        contact = make_contact(session)
        mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject="Hi"))

        created = client.post("/api/v1/mailboxes", headers=headers, json=mailbox_json(box))
        assert created.status_code == 201, created.text
        body = created.json()
        assert "password" not in body and "password_sealed" not in body
        assert (body["kind"], body["folders"], body["messages"]) == ("shared", ["INBOX"], 0)
        stored = session.get(Mailbox, body["id"])
        assert mailservers.PASSWORD not in stored.password_sealed

        url = f"/api/v1/mailboxes/{body['id']}"
        read = client.post(f"{url}/read", headers=headers)
        assert read.json() == {
            "mailbox_id": body["id"],
            "read": 1,
            "touchpoints": 1,
            "triaged": 0,
            "error": None,
        }
        timeline = client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=headers).json()
        [touchpoint] = timeline["items"]
        assert (touchpoint["channel"], touchpoint["summary"]) == ("email", "Hi")
        mail = client.get(f"/api/v1/touchpoints/{touchpoint['id']}/mail", headers=headers)
        assert mail.json()["from_address"] == contact.emails[0]
        assert client.get(url, headers=headers).json()["messages"] == 1

        patched = client.patch(url, headers=headers, json={"password": "wrong", "batch_size": 9})
        assert patched.json()["batch_size"] == 9
        failed = client.post(f"{url}/read", headers=headers).json()
        assert failed["error"] == "The server refused the user name or password."
        assert client.get(url, headers=headers).json()["last_error"] == failed["error"]

        assert client.delete(url, headers=headers).status_code == 204
        assert client.get(url, headers=headers).status_code == 404
        assert (
            len(
                client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=headers).json()[
                    "items"
                ]
            )
            == 1
        )

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"port": 0}, "port"),
            ({"security": "telnet"}, "security"),
            ({"folders": []}, "folders"),
            ({"address": "no-at-sign"}, "address"),
            ({"kind": "personal"}, "owner_id"),
            ({"kind": "personal", "owner_id": 999999}, "owner_id"),
            ({"unknown": 1}, "unknown"),
        ],
    )
    def test_bad_settings_are_refused_with_the_field(self, client, session, change, field):
        body = mailbox_json(mailboxes.account()) | change
        response = client.post("/api/v1/mailboxes", headers=bearer(session), json=body)
        assert response.status_code == 422, response.text
        assert field in response.text

    def test_one_address_is_read_by_one_mailbox(self, client, session):
        headers, box = bearer(session), mailboxes.account()
        assert (
            client.post("/api/v1/mailboxes", headers=headers, json=mailbox_json(box)).status_code
            == 201
        )
        again = client.post("/api/v1/mailboxes", headers=headers, json=mailbox_json(box.upper()))
        assert again.status_code == 409

    def test_only_admins_manage_mailboxes(self, client, session):
        response = client.get("/api/v1/mailboxes", headers=bearer(session, Role.SALES_REP))
        assert response.status_code == 403


class TestTriageApi:
    def _waiting(self, client, session, sender="Nina New <nina.triage@example.com>"):
        headers = bearer(session)
        box = mailboxes.account()
        mailboxes.append(box, mailboxes.mail(sender=sender, to=box, subject="Can you help?"))
        mailbox = client.post("/api/v1/mailboxes", headers=headers, json=mailbox_json(box)).json()
        client.post(f"/api/v1/mailboxes/{mailbox['id']}/read", headers=headers)
        rep = bearer(session, Role.SALES_REP)
        [entry] = [
            e
            for e in client.get("/api/v1/mail-triage", headers=rep).json()["items"]
            if e["mailbox_id"] == mailbox["id"]
        ]
        return rep, entry

    def test_a_rep_creates_a_contact_from_a_strangers_mail(self, client, session):
        rep, entry = self._waiting(client, session)
        assert (entry["address"], entry["name"], entry["subject"]) == (
            "nina.triage@example.com",
            "Nina New",
            "Can you help?",
        )
        made = client.post(
            f"/api/v1/mail-triage/{entry['id']}/contact",
            headers=rep,
            json={"first_name": "Nina", "last_name": "New"},
        )
        assert made.status_code == 201, made.text
        contact = made.json()
        assert contact["emails"] == ["nina.triage@example.com"]
        timeline = client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=rep).json()
        assert [t["summary"] for t in timeline["items"]] == ["Can you help?"]
        gone = client.post(f"/api/v1/mail-triage/{entry['id']}/ignore", headers=rep)
        assert gone.status_code == 404

    def test_a_rep_links_a_strangers_mail_to_a_contact(self, client, session):
        rep, entry = self._waiting(client, session, sender="private.address@example.com")
        contact = make_contact(session)
        linked = client.post(
            f"/api/v1/mail-triage/{entry['id']}/link", headers=rep, json={"contact_id": contact.id}
        )
        assert linked.status_code == 200, linked.text
        assert linked.json()["emails"] == [contact.emails[0], "private.address@example.com"]

    def test_linking_to_no_contact_or_an_address_of_another_is_refused(self, client, session):
        rep, entry = self._waiting(client, session, sender="taken.address@example.com")
        missing = client.post(
            f"/api/v1/mail-triage/{entry['id']}/link", headers=rep, json={"contact_id": 999999}
        )
        assert missing.status_code == 404
        make_contact(session, emails=["taken.address@example.com"])
        other = make_contact(session)
        clash = client.post(
            f"/api/v1/mail-triage/{entry['id']}/link", headers=rep, json={"contact_id": other.id}
        )
        assert clash.status_code == 409
        assert client.get("/api/v1/mail-triage", headers=rep).json()["items"]

    def test_a_rep_ignores_a_sender(self, client, session):
        rep, entry = self._waiting(client, session, sender="newsletter@junk.example")
        assert (
            client.post(f"/api/v1/mail-triage/{entry['id']}/ignore", headers=rep).status_code == 204
        )
        items = client.get("/api/v1/mail-triage", headers=rep).json()["items"]
        assert entry["id"] not in [e["id"] for e in items]

    def test_a_dpo_alone_does_not_triage(self, client, session):
        response = client.get("/api/v1/mail-triage", headers=bearer(session, Role.DPO))
        assert response.status_code == 403


class TestPages:
    def test_an_admin_adds_a_mailbox_on_its_page_and_reads_it(self, client, session):
        admin = make_user(session, roles=(Role.ADMIN,))
        login(client, admin.email, PASSWORD)
        box = mailboxes.account("team")
        contact = make_contact(session)
        mailboxes.append(box, mailboxes.mail(sender=contact.emails[0], to=box, subject="Page"))
        form = {
            "name": "Team",
            "kind": "shared",
            "address": box,
            "host": mailservers.HOST,
            "port": str(mailservers.IMAP_PORT),
            "security": "none",
            "username": box,
            "password": mailservers.PASSWORD,
            "folders": "INBOX, Sent",
            "batch_size": "100",
            "is_active": "true",
        }
        bad = post_form(client, "/mailboxes", form | {"port": "http"}, form_page="/mailboxes/new")
        assert bad.status_code == 422
        assert 'value="Team"' in bad.text and "whole number" in bad.text

        saved = post_form(client, "/mailboxes", form, form_page="/mailboxes/new")
        assert saved.status_code == 303
        url = saved.headers["location"]
        mailbox = session.exec(select(Mailbox).where(Mailbox.address == box)).one()
        assert mailbox.folders == ["INBOX", "Sent"]

        read = post_form(client, f"{url}/read", form_page=url)
        assert read.status_code == 303
        page = client.get(url).text
        assert "New mails read: 1; touchpoints: 1; to triage: 0." in page
        assert "working" in page
        listed = client.get("/mailboxes").text
        assert "Team" in listed and box in listed

        kept = post_form(client, url, form | {"password": ""}, form_page=url)
        assert kept.status_code == 303
        session.refresh(mailbox)
        post_form(client, f"{url}/read", form_page=url)
        assert "Error" not in client.get(url).text

        contact_page = client.get(f"/contacts/{contact.id}").text
        assert "Page" in contact_page and f"From {contact.emails[0]}" in contact_page

    def test_a_rep_triages_on_the_triage_page(self, client, session, settings):
        rep = make_user(session, roles=(Role.SALES_REP,))
        box = mailboxes.account()
        mailbox = mailboxes.make_mailbox(session, address=box, secret_key=settings.secret_key)
        mailboxes.append(
            box,
            mailboxes.mail(
                sender='"Otto Triage" <otto.triage@example.com>', to=box, subject="<b>Hi</b>"
            ),
        )
        from crm.mail import service as mail_service

        mail_service.read_now(session, mailbox=mailbox, settings=settings)
        login(client, rep.email, PASSWORD)
        page = client.get("/mail/triage").text
        assert "&lt;b&gt;Hi&lt;/b&gt;" in page
        assert 'value="Otto"' in page and 'value="Triage"' in page
        entry_id = int(page.split('id="triage-')[1].split('"')[0])

        made = post_form(
            client,
            f"/mail/triage/{entry_id}/contact",
            {"first_name": "Otto", "last_name": "Triage"},
            form_page="/mail/triage",
        )
        assert made.status_code == 303
        contact_page = client.get(made.headers["location"]).text
        assert "&lt;b&gt;Hi&lt;/b&gt;" in contact_page
        assert "otto.triage@example.com" in contact_page


class TestSending:
    def test_a_rep_sends_through_the_api_and_a_failure_can_be_retried(
        self, client, session, settings, open_session, monkeypatch
    ):
        monkeypatch.setattr(settings, "smtp_host", mailservers.HOST)
        monkeypatch.setattr(settings, "smtp_port", mailservers.SMTP_PORT)
        rep = bearer(session, Role.SALES_REP)
        contact = make_contact(session, emails=[f"gone@{mailservers.REFUSED_DOMAIN}"])
        queued = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "subject": "Hello", "body": "Text"},
        )
        assert queued.status_code == 201, queued.text
        body = queued.json()
        assert (body["status"], body["kind"], body["to_address"]) == (
            "queued",
            "contract",
            contact.emails[0],
        )
        timeline = client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=rep).json()
        assert [t["summary"] for t in timeline["items"]] == ["Hello"]

        jobs.send_outbox(open_session, settings=settings)
        failed = client.get(f"/api/v1/emails/{body['id']}", headers=rep).json()
        assert failed["status"] == "failed" and failed["smtp_answer"].startswith("550")
        listed = client.get(f"/api/v1/emails?contact_id={contact.id}&status=failed", headers=rep)
        assert [m["id"] for m in listed.json()["items"]] == [body["id"]]
        again = client.post(f"/api/v1/emails/{body['id']}/retry", headers=rep)
        assert again.json()["status"] == "queued"
        assert client.post(f"/api/v1/emails/{body['id']}/retry", headers=rep).status_code == 409

    @pytest.mark.parametrize(
        ("change", "status"),
        [
            ({"subject": ""}, 422),
            ({"kind": "spam"}, 422),
            ({"contact_id": 999999}, 404),
            ({"kind": "marketing"}, 409),
            ({"reply_to_touchpoint_id": 999999}, 404),
            ({"cc": "x@example.com"}, 422),
        ],
    )
    def test_bad_mail_is_refused_and_nothing_is_queued(self, client, session, change, status):
        rep = bearer(session, Role.SALES_REP)
        contact = make_contact(session)
        body = {"contact_id": contact.id, "subject": "Hi", "body": "Text"} | change
        assert client.post("/api/v1/emails", headers=rep, json=body).status_code == status
        assert client.get("/api/v1/emails", headers=rep).json()["items"] == []

    def test_one_click_unsubscribe_withdraws_the_consent(self, client, session):
        rep_user = make_user(session)
        rep = {"Authorization": f"Bearer {make_token(session, rep_user)}"}
        contact = make_contact(session)
        client.post(
            f"/api/v1/contacts/{contact.id}/consents",
            headers=rep,
            json={"purpose": "direct_marketing", "action": "granted", "source": "form"},
        )
        queued = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "subject": "News", "body": "New!", "kind": "marketing"},
        ).json()
        url = session.get(OutboxMail, queued["id"]).unsubscribe_url
        assert url.startswith("http://testserver/api/v1/unsubscribe/")

        # As RFC 8058 says a mail client does: one POST, no login, no CSRF token.
        anonymous = client.__class__(client.app)
        done = anonymous.post(
            url,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200, done.text
        consents = client.get(f"/api/v1/contacts/{contact.id}/consents", headers=rep).json()
        assert "withdrawn" in str(consents)
        refused = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "subject": "More", "body": "x", "kind": "marketing"},
        )
        assert refused.status_code == 409
        assert anonymous.post(url.rsplit("/", 1)[0] + "/forged").status_code == 404

    def test_a_rep_sends_from_the_contact_page(self, client, session):
        rep = make_user(session, roles=(Role.SALES_REP,))
        login(client, rep.email, PASSWORD)
        contact = make_contact(session)
        page = client.get(f"/contacts/{contact.id}").text
        assert "Send an e-mail" in page
        sent = post_form(
            client,
            f"/contacts/{contact.id}/emails",
            {"subject": "Meeting notes", "body": "As discussed.", "kind": "contract"},
            form_page=f"/contacts/{contact.id}",
        )
        assert sent.status_code == 303
        page = client.get(f"/contacts/{contact.id}").text
        assert "Mail queued: it goes out within a minute." in page
        assert "Meeting notes" in page and "Waiting to go out." in page
        refused = post_form(
            client,
            f"/contacts/{contact.id}/emails",
            {"subject": "Offer", "body": "Buy", "kind": "marketing"},
            form_page=f"/contacts/{contact.id}",
        )
        assert refused.status_code == 303
        assert "Nothing was changed" in client.get(f"/contacts/{contact.id}").text


class TestSendAndMarkDone:
    @staticmethod
    def _followup(client, headers, **subject) -> dict:
        created = client.post(
            "/api/v1/followups",
            headers=headers,
            json={"title": "Ask for a review", "due_at": "2030-01-01T09:00:00Z", **subject},
        )
        assert created.status_code == 201, created.text
        return created.json()

    @staticmethod
    def _send(client, headers, contact_id: int, followup_id: int):
        mail = {"subject": "Would you review us?", "body": "A few words would help."}
        return client.post(
            "/api/v1/emails",
            headers=headers,
            json={"contact_id": contact_id, "followup_id": followup_id, **mail},
        )

    def test_a_mail_carries_out_a_follow_up_of_the_contact_or_their_company(self, client, session):
        rep = bearer(session, Role.ACCOUNT_MANAGER)
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        for subject in ({"contact_id": contact.id}, {"company_id": company.id}):
            followup = self._followup(client, rep, **subject)
            sent = self._send(client, rep, contact.id, followup["id"])
            assert sent.status_code == 201, sent.text
            done = client.get(f"/api/v1/followups/{followup['id']}", headers=rep).json()
            assert (done["status"], done["touchpoint_id"]) == ("done", sent.json()["touchpoint_id"])

    def test_a_follow_up_of_another_or_a_closed_one_is_refused_and_nothing_goes(
        self, client, session
    ):
        rep = bearer(session, Role.ACCOUNT_MANAGER)
        contact, other = make_contact(session), make_contact(session)
        elsewhere = self._followup(client, rep, contact_id=other.id)
        closed = self._followup(client, rep, contact_id=contact.id)
        client.post(f"/api/v1/followups/{closed['id']}/cancel", headers=rep)
        for followup_id, status in ((elsewhere["id"], 422), (closed["id"], 409), (999999, 404)):
            refused = self._send(client, rep, contact.id, followup_id)
            assert refused.status_code == status, refused.text
        assert client.get("/api/v1/emails", headers=rep).json()["items"] == []
        assert (
            client.get(f"/api/v1/contacts/{contact.id}/timeline", headers=rep).json()["items"] == []
        )
        assert (
            client.get(f"/api/v1/followups/{elsewhere['id']}", headers=rep).json()["status"]
            == "open"
        )

    def test_from_the_follow_up_to_the_compose_form_and_done(self, client, session):
        manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
        login(client, manager.email, PASSWORD)
        contact = make_contact(session)
        followup = self._followup(
            client,
            {"Authorization": f"Bearer {make_token(session, manager)}"},
            contact_id=contact.id,
        )
        card = client.get(f"/contacts/{contact.id}/followups").text
        link = f"/contacts/{contact.id}/compose?followup={followup['id']}"
        assert f'href="{link}"' in card
        page = client.get(link).text
        assert f'name="followup_id" value="{followup["id"]}"' in page
        assert "Sending marks the follow-up “Ask for a review” done." in page
        sent = post_form(
            client,
            f"/contacts/{contact.id}/emails",
            {
                "subject": "Ask for a review",
                "body": "Would you?",
                "followup_id": str(followup["id"]),
            },
            form_page=link,
        )
        assert sent.status_code == 303
        assert "Ask for a review" not in client.get(f"/contacts/{contact.id}/followups").text
        assert 'name="followup_id"' not in client.get(link).text
