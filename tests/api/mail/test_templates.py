"""Mail templates (sandboxed Jinja2, English and German, with a preview), the compose
form they fill, sending from a company's page, and replying to a mail on the timeline."""

import pytest
from sqlmodel import select

from crm.mail.models import OutboxMail
from crm.users.models import Role
from tests.conftest import csrf_token, login, post_form
from tests.factories import PASSWORD, make_company, make_contact, make_token, make_user

WELCOME = {
    "name": "Welcome",
    "subject_en": "Welcome, {{ contact.first_name }}",
    "body_en": (
        "Dear {{ contact.name }},\n\nglad to have {{ company.name }} with us.\n\n"
        "{{ user.signature }}"
    ),
    "subject_de": "Willkommen, {{ contact.first_name }}",
    "body_de": "Liebe(r) {{ contact.name }},\n\n{{ user.signature }}",
}


def headers_of(session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, user)}"}


@pytest.fixture
def admin(session):
    return headers_of(session, make_user(session, roles=(Role.ADMIN,)))


def signed_rep(session, client=None):
    rep = make_user(session, roles=(Role.ACCOUNT_MANAGER,), name="Rita Rep")
    headers = headers_of(session, rep)
    if client is not None:
        patched = client.patch(
            "/api/v1/me", headers=headers, json={"signature": "Rita Rep\nAccount Manager"}
        )
        assert patched.json()["signature"] == "Rita Rep\nAccount Manager"
    return rep, headers


class TestTemplateApi:
    def test_a_template_is_written_for_each_contact_in_their_language(self, client, session, admin):
        created = client.post("/api/v1/mail-templates", headers=admin, json=WELCOME)
        assert created.status_code == 201, created.text
        template = created.json()
        assert template["kind"] == "contract"
        _, rep = signed_rep(session, client)
        company = make_company(session, name="Acme")
        english = make_contact(session, first_name="Ann", last_name="Lee", company_id=company.id)
        german = make_contact(session, first_name="Jörg", last_name="Weiß", language="de")

        url = f"/api/v1/mail-templates/{template['id']}/preview"
        shown = client.post(url, headers=rep, json={"contact_id": english.id}).json()
        assert shown["language"] == "en" and shown["subject"] == "Welcome, Ann"
        assert shown["body"] == (
            "Dear Ann Lee,\n\nglad to have Acme with us.\n\nRita Rep\nAccount Manager"
        )
        shown = client.post(url, headers=rep, json={"contact_id": german.id}).json()
        assert (shown["language"], shown["subject"]) == ("de", "Willkommen, Jörg")

        # Without German texts a German contact gets the English ones.
        patched = client.patch(
            f"/api/v1/mail-templates/{template['id']}",
            headers=admin,
            json={"subject_de": None, "body_de": None},
        )
        assert patched.status_code == 200, patched.text
        shown = client.post(url, headers=rep, json={"contact_id": german.id}).json()
        assert (shown["language"], shown["subject"]) == ("en", "Welcome, Jörg")
        assert [t["name"] for t in client.get("/api/v1/mail-templates", headers=rep).json()] == [
            "Welcome"
        ]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"subject_en": "Hi {{ contact.first_name"}, "subject_en"),
            ({"body_en": "Call {{ contact.phone }}"}, "body_en"),
            ({"body_en": "{{ contact.__class__.__mro__ }}"}, "body_en"),
            ({"body_en": "{{ ''.__class__.__subclasses__() }}"}, "body_en"),
            ({"body_en": "{{ 1 / 0 }}"}, "body_en"),
            ({"body_en": "{{ contact.name + 1 }}"}, "body_en"),
            ({"subject_de": "Hallo", "body_de": None}, "body_de"),
            ({"kind": "spam"}, "kind"),
            ({"name": ""}, "name"),
        ],
    )
    def test_a_text_that_cannot_be_a_template_is_refused(
        self, client, session, admin, change, field
    ):
        body = {k: v for k, v in (WELCOME | change).items() if v is not None}
        refused = client.post("/api/v1/mail-templates", headers=admin, json=body)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
        assert client.get("/api/v1/mail-templates", headers=admin).json() == []

    def test_names_are_unique_and_only_admins_change_templates(self, client, session, admin):
        assert client.post("/api/v1/mail-templates", headers=admin, json=WELCOME).status_code == 201
        assert client.post("/api/v1/mail-templates", headers=admin, json=WELCOME).status_code == 409
        [template] = client.get("/api/v1/mail-templates", headers=admin).json()
        _, rep = signed_rep(session)
        url = f"/api/v1/mail-templates/{template['id']}"
        assert client.post("/api/v1/mail-templates", headers=rep, json=WELCOME).status_code == 403
        assert client.patch(url, headers=rep, json={"name": "Mine"}).status_code == 403
        assert client.delete(url, headers=rep).status_code == 403
        assert client.delete(url, headers=admin).status_code == 204
        assert client.get(url, headers=admin).status_code == 404


class TestSendingFromTemplates:
    def test_a_mail_from_a_template_goes_out_as_written(self, client, session, admin):
        template = client.post("/api/v1/mail-templates", headers=admin, json=WELCOME).json()
        _, rep = signed_rep(session, client)
        contact = make_contact(session, first_name="Ann", last_name="Lee")
        sent = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "template_id": template["id"]},
        )
        assert sent.status_code == 201, sent.text
        outgoing = session.get(OutboxMail, sent.json()["id"])
        assert outgoing.subject == "Welcome, Ann"
        assert outgoing.body.startswith("Dear Ann Lee,") and "Account Manager" in outgoing.body
        # What the user typed replaces the template's text.
        edited = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "template_id": template["id"], "subject": "Hi"},
        )
        assert session.get(OutboxMail, edited.json()["id"]).subject == "Hi"

    def test_a_marketing_template_needs_consent_whatever_the_kind_sent(
        self, client, session, admin
    ):
        offer = WELCOME | {"name": "Offer", "kind": "marketing"}
        template = client.post("/api/v1/mail-templates", headers=admin, json=offer).json()
        _, rep = signed_rep(session)
        contact = make_contact(session)
        refused = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "template_id": template["id"], "kind": "contract"},
        )
        assert refused.status_code == 409, refused.text
        assert "consent" in refused.json()["detail"]
        assert session.exec(select(OutboxMail)).all() == []

    @pytest.mark.parametrize(
        ("mail", "status"),
        [({"template_id": 999999}, 404), ({"body": "No subject"}, 422), ({}, 422)],
    )
    def test_a_mail_without_its_texts_or_template_is_refused(self, client, session, mail, status):
        _, rep = signed_rep(session)
        contact = make_contact(session)
        refused = client.post(
            "/api/v1/emails", headers=rep, json={"contact_id": contact.id, **mail}
        )
        assert refused.status_code == status, refused.text
        assert session.exec(select(OutboxMail)).all() == []


class TestTemplatePages:
    def test_an_admin_writes_previews_and_saves_a_template(self, client, session):
        admin = make_user(session, roles=(Role.ADMIN,))
        login(client, admin.email, PASSWORD)
        assert "No template yet." in client.get("/mail-templates").text
        form = WELCOME | {"kind": "contract"}
        preview = client.post(
            "/mail-templates/preview",
            data={**form, "csrf_token": csrf_token(client, "/mail-templates/new")},
            headers={"HX-Request": "true", "HX-Target": "template-preview"},
        )
        assert preview.status_code == 200
        assert preview.text.lstrip().startswith('<section id="template-preview"')
        assert "Welcome, Ada" in preview.text and "Willkommen, Ada" in preview.text
        assert "Analytical Engines Ltd" in preview.text

        broken = post_form(
            client,
            "/mail-templates",
            form | {"body_en": "{{ contact.phone }}"},
            form_page="/mail-templates/new",
        )
        assert broken.status_code == 422
        assert "This text cannot be used as a template" in broken.text
        assert "contact.phone" not in client.get("/mail-templates").text

        saved = post_form(client, "/mail-templates", form, form_page="/mail-templates/new")
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "Template Welcome saved." in page and "Welcome, {{ contact.first_name }}" in page
        assert "Welcome" in client.get("/mail-templates").text

    def test_the_template_pages_are_for_admins(self, client, session):
        rep = make_user(session)
        login(client, rep.email, PASSWORD)
        assert client.get("/mail-templates").status_code == 403
        assert client.get("/mail-templates/new").status_code == 403

    def test_a_signature_is_set_on_the_profile(self, client, session):
        rep = make_user(session)
        login(client, rep.email, PASSWORD)
        saved = post_form(
            client,
            "/profile/preferences",
            {"language": "", "time_zone": "", "signature": "Best,\nRep"},
            form_page="/profile",
        )
        assert saved.status_code == 303
        assert "Best,\nRep</textarea>" in client.get("/profile").text


class TestComposing:
    def test_a_rep_starts_a_mail_from_a_template_on_the_contact_page(self, client, session, admin):
        template = client.post("/api/v1/mail-templates", headers=admin, json=WELCOME).json()
        rep, _ = signed_rep(session, client)
        login(client, rep.email, PASSWORD)
        contact = make_contact(session, first_name="Ann", last_name="Lee")
        page = client.get(f"/contacts/{contact.id}").text
        assert f'hx-get="/contacts/{contact.id}/compose"' in page

        url = f"/contacts/{contact.id}/compose?template={template['id']}"
        block = client.get(url, headers={"HX-Request": "true", "HX-Target": "compose"})
        assert block.text.lstrip().startswith('<section id="compose"')
        assert 'value="Welcome, Ann"' in block.text and "Rita Rep\nAccount Manager" in block.text
        full = client.get(url).text
        assert "<html" in full and 'value="Welcome, Ann"' in full

        sent = post_form(
            client,
            f"/contacts/{contact.id}/emails",
            {"template_id": str(template["id"]), "subject": "Welcome, Ann", "body": "Edited"},
            form_page=url,
        )
        assert sent.status_code == 303
        [outgoing] = session.exec(select(OutboxMail)).all()
        assert (outgoing.subject, outgoing.body) == ("Welcome, Ann", "Edited")

    def test_a_rep_mails_someone_from_the_company_page(self, client, session):
        rep = make_user(session, roles=(Role.SALES_REP,))
        login(client, rep.email, PASSWORD)
        company = make_company(session)
        buyer = make_contact(session, first_name="Bea", company_id=company.id)
        make_contact(session, first_name="Noaddress", emails=[], company_id=company.id)
        stranger = make_contact(session)

        page = client.get(f"/companies/{company.id}").text
        assert f'hx-get="/companies/{company.id}/compose"' in page
        picker = client.get(f"/companies/{company.id}/compose").text
        assert buyer.emails[0] in picker and "Noaddress" not in picker
        url = f"/companies/{company.id}/compose?to={buyer.id}"
        form = client.get(url).text
        assert f'name="contact_id" value="{buyer.id}"' in form

        refused = post_form(
            client,
            f"/companies/{company.id}/emails",
            {"contact_id": str(stranger.id), "subject": "Hi", "body": "Text"},
            form_page=url,
        )
        assert refused.status_code == 303
        assert "does not work for this company" in client.get(f"/companies/{company.id}").text
        sent = post_form(
            client,
            f"/companies/{company.id}/emails",
            {"contact_id": str(buyer.id), "subject": "Our offer", "body": "Text"},
            form_page=url,
        )
        assert sent.headers["location"] == f"/companies/{company.id}"
        company_page = client.get(f"/companies/{company.id}").text
        assert "Mail queued" in company_page and "Our offer" in company_page
        [outgoing] = session.exec(select(OutboxMail)).all()
        assert outgoing.to_address == buyer.emails[0]

    def test_a_rep_replies_to_a_mail_on_the_timeline(self, client, session):
        rep_user, rep = signed_rep(session)
        login(client, rep_user.email, PASSWORD)
        contact = make_contact(session)
        first = client.post(
            "/api/v1/emails",
            headers=rep,
            json={"contact_id": contact.id, "subject": "Your order", "body": "Shipped."},
        ).json()
        page = client.get(f"/contacts/{contact.id}").text
        reply = f"/contacts/{contact.id}/compose?reply_to={first['touchpoint_id']}"
        assert f'href="{reply}"' in page
        form = client.get(reply).text
        assert 'value="Re: Your order"' in form
        assert f'name="reply_to" value="{first["touchpoint_id"]}"' in form
        post_form(
            client,
            f"/contacts/{contact.id}/emails",
            {
                "subject": "Re: Your order",
                "body": "And an invoice.",
                "reply_to": str(first["touchpoint_id"]),
            },
            form_page=reply,
        )
        answer = session.exec(select(OutboxMail).where(OutboxMail.id != first["id"])).one()
        original = session.get(OutboxMail, first["id"])
        assert answer.in_reply_to == original.message_id
        page = client.get(f"/contacts/{contact.id}").text
        assert "1 earlier mail in this conversation" in page
