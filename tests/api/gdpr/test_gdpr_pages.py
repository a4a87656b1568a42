"""The DPO's pages, the register and a contact's consent card, as people use them."""

from sqlmodel import select

from crm.gdpr.models import PrivacyRequest, Purpose
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_contact, make_user


def test_a_dpo_takes_a_request_from_receipt_to_done(client, session):
    dpo = make_user(session, roles=(Role.DPO,))
    contact = make_contact(session, first_name="Rita", last_name="Request")
    login(client, dpo.email)
    assert "New request" in client.get("/privacy").text
    refused = post_form(
        client,
        "/privacy/requests",
        {"kind": "access", "requester_name": "", "contact_id": str(contact.id)},
        form_page="/privacy/requests/new",
    )
    assert refused.status_code == 422 and 'id="e-requester_name"' in refused.text
    created = post_form(
        client,
        "/privacy/requests",
        {
            "kind": "access",
            "requester_name": "Rita Request",
            "contact_id": str(contact.id),
            "received_on": "2026-11-30",
        },
        form_page="/privacy/requests/new",
    )
    assert created.status_code == 303
    url = created.headers["location"]
    page = client.get(url)
    assert "Dec 30, 2026" in page.text and "Rita Request" in page.text
    post_form(client, url, {"identity_verified": "true", "status": "in_progress"}, form_page=url)
    case = session.exec(select(PrivacyRequest).where(PrivacyRequest.contact_id == contact.id)).one()
    session.refresh(case)
    assert (case.status, case.identity_verified_at is not None) == ("in_progress", True)
    no_reason = post_form(client, f"{url}/extend", {"months": "1", "reason": ""}, form_page=url)
    assert no_reason.status_code == 303
    session.refresh(case)
    assert case.extended_months == 0
    post_form(client, url, {"status": "done", "outcome": "Export sent by post"}, form_page=url)
    session.refresh(case)
    assert (case.status, case.outcome) == ("done", "Export sent by post")
    assert "Rita Request" not in client.get("/privacy").text  # only the open ones
    assert "Rita Request" in client.get("/privacy?closed=true").text


def test_privacy_pages_are_the_dpos(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    admin = make_user(session, roles=(Role.ADMIN,))
    for user in (rep, admin):
        login(client, user.email)
        assert client.get("/privacy").status_code == 403
        assert client.get("/privacy/requests/new").status_code == 403
    assert "Register of processing activities" in client.get("/privacy/register").text


def test_the_dpo_edits_the_register(client, session):
    dpo = make_user(session, roles=(Role.DPO,))
    login(client, dpo.email)
    purpose = session.exec(select(Purpose).where(Purpose.key == "after_sales_surveys")).one()
    page = client.get("/privacy/register")
    assert "Art. 6(1)(f): legitimate interests" in page.text and "SHA-256" in page.text
    saved = post_form(
        client,
        f"/privacy/purposes/{purpose.id}",
        {
            "name": "After-sales surveys",
            "legal_basis": "f",
            "retention_months": "48",
            "is_active": "true",
        },
        form_page="/privacy/register",
    )
    assert saved.status_code == 303
    session.refresh(purpose)
    assert (purpose.retention_months, purpose.is_marketing) == (48, False)
    post_form(
        client,
        f"/privacy/purposes/{purpose.id}/texts",
        {"language": "en", "body": "I agree to surveys."},
        form_page="/privacy/register",
    )
    assert "I agree to surveys." in client.get("/privacy/register").text


def test_the_consent_card_records_and_withdraws(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    contact = make_contact(session)
    login(client, rep.email)
    card = client.get(
        f"/contacts/{contact.id}/consents", headers={"HX-Request": "true", "HX-Target": "consents"}
    )
    assert "<html" not in card.text and "Record consent" in card.text
    url = f"/contacts/{contact.id}/consents"
    form = {"purpose": "direct_marketing", "action": "granted", "source": "phone"}
    assert post_form(client, url, form, form_page=f"/contacts/{contact.id}").status_code == 303
    card = client.get(url).text
    assert "<html" in card and "Withdraw" in card and "/consent/withdraw/" in card
    post_form(client, url, {**form, "action": "withdrawn"}, form_page=f"/contacts/{contact.id}")
    assert "Record consent" in client.get(url).text


def test_the_dpo_makes_and_downloads_an_export(client, session):
    dpo = make_user(session, roles=(Role.DPO,))
    contact = make_contact(session)
    login(client, dpo.email)
    created = post_form(
        client,
        "/privacy/requests",
        {"kind": "access", "requester_name": "Paula", "contact_id": str(contact.id)},
        form_page="/privacy/requests/new",
    )
    url = created.headers["location"]
    assert client.get(f"{url}/export").status_code == 404  # none made yet
    assert post_form(client, f"{url}/export", form_page=url).status_code == 303
    assert "Download the export" in client.get(url).text
    download = client.get(f"{url}/export")
    assert download.status_code == 200 and download.content[:2] == b"PK"


def test_the_dpo_erases_from_the_case_page_and_redacts_a_mention(client, session):
    from tests.factories import make_company

    dpo = make_user(session, roles=(Role.DPO,))
    contact = make_contact(session, first_name="Gregor", last_name="Gone")
    make_company(session, notes="Gregor Gone knows the CEO")
    login(client, dpo.email)
    created = post_form(
        client,
        "/privacy/requests",
        {"kind": "erasure", "requester_name": "Gregor Gone", "contact_id": str(contact.id)},
        form_page="/privacy/requests/new",
    )
    url = created.headers["location"]
    assert "Verify the requester" in client.get(url).text
    post_form(client, url, {"identity_verified": "true", "status": "in_progress"}, form_page=url)
    assert post_form(client, f"{url}/erase", form_page=url).status_code == 303
    page = client.get(url).text
    assert "Mentions to redact" in page and "company" in page and "notes" in page
    assert "Gregor" not in page.split("<main")[1]
    mention = page.split('action="/privacy/mentions/')[1].split("/")[0]
    post_form(client, f"/privacy/mentions/{mention}/redacted", {"next": url}, form_page=url)
    assert "redacted" in client.get(url).text


def test_restriction_and_objection_on_the_contact_page(client, session):
    dpo = make_user(session, roles=(Role.DPO,))
    rep = make_user(session, roles=(Role.SALES_REP,))
    contact = make_contact(session)
    page = f"/contacts/{contact.id}"
    login(client, rep.email)
    assert "Restrict processing" not in client.get(f"{page}/consents").text
    post_form(client, f"{page}/objection", {"objected": "true"}, form_page=page)
    assert "Objected to direct marketing" in client.get(page).text
    assert (
        post_form(client, f"{page}/restriction", {"restricted": "true"}, form_page=page).status_code
        == 403
    )
    login(client, dpo.email)
    post_form(client, f"{page}/restriction", {"restricted": "true"}, form_page=page)
    assert "Processing of this contact is restricted" in client.get(page).text
    assert "Lift the restriction" in client.get(f"{page}/consents").text


def test_the_dpo_decides_retention_proposals_in_bulk(client, session):
    from datetime import timedelta

    from crm.contacts.models import Contact
    from crm.core.db import utcnow
    from crm.gdpr import retention

    dpo = make_user(session, roles=(Role.DPO,))
    old = [make_contact(session, first_name=f"Old{n}", last_name="Lead") for n in range(3)]
    for contact in old:
        contact.created_at = utcnow() - timedelta(days=800)
    session.commit()
    assert retention.propose(session) == 3
    session.commit()
    login(client, dpo.email)
    page = client.get("/privacy/retention").text
    assert "Old0 Lead" in page and "Old2 Lead" in page
    proposals = {c.id: p.id for p, c in retention.proposals(session)}
    nothing = post_form(
        client, "/privacy/retention", {"decision": "erase"}, form_page="/privacy/retention"
    )
    assert nothing.status_code == 303
    erase = post_form(
        client,
        "/privacy/retention",
        {"decision": "erase", "ids": [proposals[old[0].id], proposals[old[1].id]]},
        form_page="/privacy/retention",
    )
    assert erase.status_code == 303
    keep = post_form(
        client,
        "/privacy/retention",
        {"decision": "keep", "ids": [proposals[old[2].id]]},
        form_page="/privacy/retention",
    )
    assert keep.status_code == 303
    old_ids = [c.id for c in old]
    session.expire_all()
    assert [session.get(Contact, i) is None for i in old_ids] == [True, True, False]
    assert "Nobody is proposed." in client.get("/privacy/retention").text
