"""The finder that stands in forms wherever a contact or a company is asked for: a
search whose results are radio buttons, so that nobody types a record's number."""

import re

from sqlmodel import select

from crm.deals.models import Deal, DealContact
from crm.gdpr.models import PrivacyRequest
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_user

RADIO = re.compile(r'<input type="radio" name="(\w+)" value="(\d*)"')


def test_the_finder_offers_contacts_or_companies_as_choices(client, session):
    rita = make_contact(session, first_name="Rita", last_name="Radiobutton")
    firm = make_company(session, name="Radiobutton Mills")
    login(client, make_user(session).email)
    people = client.get("/search/pick?kind=contacts&field=contact_id&find=Radiob&required=true")
    assert RADIO.findall(people.text) == [("contact_id", str(rita.id))]
    assert "Rita Radiobutton" in people.text and " required>" in people.text
    firms = client.get("/search/pick?kind=companies&field=company_id&find=Radiob")
    assert RADIO.findall(firms.text) == [("company_id", str(firm.id))]
    assert (
        "Type at least two characters."
        in client.get("/search/pick?kind=contacts&field=contact_id&find=R").text
    )
    assert (
        "Nothing found" in client.get("/search/pick?kind=contacts&field=contact_id&find=Zzyzx").text
    )
    for bad in ("kind=deals&field=x", "kind=contacts&field=not-a-name", "kind=contacts"):
        assert client.get(f"/search/pick?{bad}&find=Rita").status_code == 422


def test_a_privacy_request_names_its_contact_by_the_finder(client, session):
    rita = make_contact(session, first_name="Rita", last_name="Request")
    login(client, make_user(session, roles=(Role.DPO,)).email)
    form = client.get(f"/privacy/requests/new?contact_id={rita.id}").text
    assert RADIO.findall(form) == [("contact_id", str(rita.id)), ("contact_id", "")]
    assert "Rita Request" in form and 'name="find"' in form
    assert "Contact number" not in form

    def send(**fields: str):
        data = {"kind": "access", "requester_name": "Rita Request", **fields}
        return post_form(client, "/privacy/requests", data, form_page="/privacy/requests/new")

    typed = send(contact_id="", find="Rita")  # a name typed, none of the results chosen
    assert typed.status_code == 422
    assert "Choose one of the results, or clear the search." in typed.text
    assert send(contact_id="abc").status_code == 422  # never dropped silently
    assert session.exec(select(PrivacyRequest)).all() == []
    assert send(contact_id=str(rita.id), find="Rita").status_code == 303
    assert send(contact_id="").status_code == 303  # someone who is no contact
    linked = session.exec(select(PrivacyRequest.contact_id)).all()
    assert sorted(linked, key=str) == sorted([rita.id, None], key=str)


def test_a_deal_gets_its_company_and_contacts_by_the_finder(client, session):
    firm = make_company(session, name="Finder Foods")
    rita = make_contact(session, first_name="Rita", last_name="Role")
    login(client, make_user(session).email)
    assert 'name="find"' in client.get("/deals").text
    created = post_form(
        client,
        "/deals",
        {"title": "Finder deal", "company_id": str(firm.id), "find": "Finder"},
        form_page="/deals",
    )
    assert created.status_code == 303
    deal = session.exec(select(Deal).where(Deal.title == "Finder deal")).one()
    assert deal.company_id == firm.id
    url = f"/deals/{deal.id}"
    page = client.get(url).text
    assert f'name="company_id" value="{firm.id}" checked' in page and "Finder Foods" in page

    missed = post_form(client, f"{url}/contacts", {"contact_id": "", "find": "Rita"}, form_page=url)
    assert missed.status_code == 303
    assert "Choose one of the results" in client.get(url).text
    added = post_form(client, f"{url}/contacts", {"contact_id": str(rita.id)}, form_page=url)
    assert added.status_code == 303
    members = session.exec(select(DealContact.contact_id).where(DealContact.deal_id == deal.id))
    assert members.all() == [rita.id]

    session.refresh(deal)
    unchosen = post_form(
        client,
        url,
        {"title": "Finder deal", "company_id": "", "find": "Foods", "version": str(deal.version)},
        form_page=url,
    )
    assert unchosen.status_code == 303
    session.refresh(deal)
    assert deal.company_id == firm.id  # a name typed, none chosen: nothing changed
    cleared = post_form(
        client,
        url,
        {"title": "Finder deal", "company_id": "", "version": str(deal.version)},
        form_page=url,
    )
    assert cleared.status_code == 303
    session.refresh(deal)
    assert deal.company_id is None


def test_a_contact_keeps_its_company_however_many_companies_there_are(client, session):
    """The contact form offered the first 200 companies in a list: a contact of the 201st
    lost its company when saved. The finder shows the contact's own company, whichever."""
    for number in range(201):
        make_company(session, name=f"Aaa {number:03d}")  # all of them ahead of the one
    zeta = make_company(session, name="Zeta Zimmerei")
    contact = make_contact(session, first_name="Zora", last_name="Zimmer", company_id=zeta.id)
    login(client, make_user(session).email)
    url = f"/contacts/{contact.id}"
    form = client.get(f"{url}/edit").text
    assert f'name="company_id" value="{zeta.id}" checked' in form and "Zeta Zimmerei" in form
    fields = {
        "first_name": "Zora",
        "last_name": "Zimmer",
        "company_id": str(zeta.id),
        "emails": "\n".join(contact.emails),
        "version": str(contact.version),
    }
    typed = post_form(client, url, {**fields, "company_id": "", "find": "Aaa"}, form_page=url)
    assert typed.status_code == 422 and "Choose one of the results" in typed.text
    saved = post_form(client, url, {**fields, "job_title": "Carpenter"}, form_page=url)
    assert saved.status_code == 303
    session.refresh(contact)
    assert (contact.company_id, contact.job_title) == (zeta.id, "Carpenter")
