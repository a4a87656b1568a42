"""The contact and company pages, as full pages and as fragments."""

import re

import pytest

from crm.contacts import service as contact_service
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_user


@pytest.fixture
def rep_client(client, session):
    login(client, make_user(session, roles=(Role.SALES_REP,)).email)
    return client


def test_the_contact_list_is_a_full_page_and_search_answers_with_rows(rep_client, session):
    make_contact(session, first_name="Hannah", last_name="Hübner")
    make_contact(session, first_name="Ida", last_name="Igel")
    page = rep_client.get("/contacts")
    assert "<html" in page.text and "Hübner, Hannah" in page.text and "Igel, Ida" in page.text
    rows = rep_client.get(
        "/contacts?q=hüb", headers={"HX-Request": "true", "HX-Target": "contact-rows"}
    )
    assert "<html" not in rows.text and "Hübner" in rows.text and "Igel" not in rows.text
    assert rows.headers["vary"] == "HX-Request"
    direct = rep_client.get("/contacts?q=hüb")  # the pushed URL, loaded directly
    assert "<html" in direct.text and 'value="hüb"' in direct.text


def test_empty_filter_fields_mean_no_filter(rep_client, session):
    make_contact(session, last_name="Leerfilter")
    response = rep_client.get("/contacts?q=leer&sort=name&owner_id=&segment=&tag=")
    assert response.status_code == 200 and "Leerfilter" in response.text


def test_the_list_links_to_the_next_page_keeping_the_filters(rep_client, session):
    for number in range(3):
        make_contact(session, last_name=f"Pager{number}", segment="Paging")
    page = rep_client.get("/contacts?q=pager&limit=2")
    link = re.search(r'href="([^"]*cursor=[^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert "q=pager" in link and "limit=2" in link
    second = rep_client.get(link)
    assert "Pager2" in second.text and "Pager0" not in second.text and "First page" in second.text


def test_adding_a_contact_through_the_form(rep_client, session):
    company = make_company(session, name="Form AG")
    response = post_form(
        rep_client,
        "/contacts",
        {
            "first_name": "Fritz",
            "last_name": "Form",
            "company_id": str(company.id),
            "emails": "fritz@form.de\nf.form@private.de",
            "phones": "0171 2345678",
            "buying_role": "buyer",
        },
        form_page="/contacts/new",
    )
    assert response.status_code == 303
    contact = contact_service.find_by_email(session, email="fritz@form.de")
    assert response.headers["location"] == f"/contacts/{contact.id}"
    assert contact.emails == ["fritz@form.de", "f.form@private.de"]
    page = rep_client.get(response.headers["location"]).text
    assert "Fritz Form" in page and "Form AG" in page
    assert 'href="tel:+491712345678">+49 171 2345678</a>' in page
    assert "Buyer" in page and "Fritz Form was added." in page


def test_a_bad_contact_form_comes_back_with_messages_and_input(rep_client, session):
    response = post_form(
        rep_client,
        "/contacts",
        {"first_name": "", "last_name": "Kept", "emails": "broken@"},
        form_page="/contacts/new",
    )
    assert response.status_code == 422
    assert "This field is required." in response.text
    assert 'value="Kept"' in response.text and "broken@" in response.text
    assert contact_service.list_contacts(session)[0] == []


def test_a_duplicate_offers_the_existing_contact(rep_client, session):
    existing = make_contact(session, emails=["same@example.com"])
    response = post_form(
        rep_client,
        "/contacts",
        {"first_name": "Other", "last_name": "Person", "emails": "same@example.com"},
        form_page="/contacts/new",
    )
    assert response.status_code == 422
    assert f'href="/contacts/{existing.id}"' in response.text
    assert "already belongs to" in response.text


def test_editing_and_deleting_a_contact(rep_client, session):
    contact = make_contact(session)
    form = rep_client.get(f"/contacts/{contact.id}/edit")
    assert form.status_code == 200 and contact.emails[0] in form.text
    response = post_form(
        rep_client,
        f"/contacts/{contact.id}",
        {"first_name": "Renamed", "last_name": contact.last_name, "emails": contact.emails[0]},
    )
    assert response.status_code == 303
    session.refresh(contact)
    assert contact.first_name == "Renamed"
    assert post_form(rep_client, f"/contacts/{contact.id}/delete").status_code == 303
    assert rep_client.get(f"/contacts/{contact.id}").status_code == 404


def test_company_pages(rep_client, session):
    response = post_form(
        rep_client,
        "/companies",
        {"name": "Seite GmbH", "city": "Köln", "website": "seite.de", "renewal_date": "2027-03-31"},
        form_page="/companies/new",
    )
    assert response.status_code == 303
    company_url = response.headers["location"]
    company_id = int(company_url.rsplit("/", 1)[1])
    make_contact(session, first_name="Paula", last_name="Person", company_id=company_id)
    page = rep_client.get(company_url).text
    assert "Seite GmbH" in page and "Köln" in page and "Paula Person" in page
    assert "Contract renewal date" in page and "Mar 31, 2027" in page
    listing = rep_client.get(
        "/companies?q=seite", headers={"HX-Request": "true", "HX-Target": "company-rows"}
    )
    assert "Seite GmbH" in listing.text and "<html" not in listing.text
    bad = post_form(rep_client, f"/companies/{company_id}", {"name": "", "email": "x"})
    assert bad.status_code == 422
    assert post_form(rep_client, f"/companies/{company_id}/delete").status_code == 303
    assert rep_client.get(company_url).status_code == 404


@pytest.mark.parametrize("path", ["/contacts/new", "/companies/new"])
def test_a_dpo_sees_lists_but_not_editing_pages(client, session, path):
    login(client, make_user(session, roles=(Role.DPO,)).email)
    assert client.get("/contacts").status_code == 200
    assert "New contact" not in client.get("/contacts").text
    assert client.get(path).status_code == 403
    response = post_form(client, "/contacts", {"first_name": "A", "last_name": "B"})
    assert response.status_code == 403
    assert contact_service.list_contacts(session)[0] == []


def test_the_lists_need_a_login(client):
    assert client.get("/contacts").status_code == 303
    assert client.get("/companies").status_code == 303
