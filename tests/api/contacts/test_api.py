"""/api/v1/companies and /api/v1/contacts."""

import pytest

from crm.contacts import service as contact_service
from crm.core import audit
from crm.users.models import Role
from tests.factories import make_company, make_contact, make_token, make_user


def bearer(session, *roles: Role) -> dict[str, str]:
    user = make_user(session, roles=roles or (Role.SALES_REP,))
    return {"Authorization": f"Bearer {make_token(session, user)}"}


@pytest.fixture
def rep(session):
    return bearer(session, Role.SALES_REP)


class TestCompanies:
    def test_create_read_update_delete(self, client, session, rep):
        created = client.post(
            "/api/v1/companies",
            headers=rep,
            json={
                "name": "Nordlicht GmbH",
                "website": "https://www.nordlicht.de",
                "phone": "040 123456",
                "country": "DE",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["domain"], body["phone"]) == ("nordlicht.de", "+4940123456")
        company_id = body["id"]
        assert (
            client.get(f"/api/v1/companies/{company_id}", headers=rep).json()["name"]
            == "Nordlicht GmbH"
        )
        patched = client.patch(
            f"/api/v1/companies/{company_id}", headers=rep, json={"segment": "Logistics"}
        )
        assert patched.json()["segment"] == "Logistics"
        assert client.delete(f"/api/v1/companies/{company_id}", headers=rep).status_code == 204
        assert client.get(f"/api/v1/companies/{company_id}", headers=rep).status_code == 404

    def test_list_pages_with_a_cursor(self, client, session, rep):
        for name in ("Alpha", "Beta", "Gamma"):
            make_company(session, name=f"{name} Listing AG")
        first = client.get(
            "/api/v1/companies", headers=rep, params={"q": "listing", "limit": 2}
        ).json()
        assert [c["name"] for c in first["items"]] == ["Alpha Listing AG", "Beta Listing AG"]
        second = client.get(
            "/api/v1/companies",
            headers=rep,
            params={"q": "listing", "limit": 2, "cursor": first["next_cursor"]},
        ).json()
        assert [c["name"] for c in second["items"]] == ["Gamma Listing AG"]
        assert second["next_cursor"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"name": ""},
            {"name": "X", "email": "nope"},
            {"name": "X", "phone": "123"},
            {"name": "X", "country": "Germany"},
            {"name": "X", "owner_id": 999999},
        ],
    )
    def test_bad_input_is_refused(self, client, session, rep, body):
        response = client.post("/api/v1/companies", headers=rep, json=body)
        assert response.status_code == 422
        assert contact_service.list_companies(session)[0] == []


class TestContacts:
    def test_create_with_addresses_and_read_back(self, client, session, rep):
        company = make_company(session)
        response = client.post(
            "/api/v1/contacts",
            headers=rep,
            json={
                "first_name": "Jürgen",
                "last_name": "Weiß",
                "company_id": company.id,
                "buying_role": "decision_maker",
                "emails": ["J.Weiss@Example.de"],
                "phones": ["+49 171 2345678"],
            },
        )
        assert response.status_code == 201, response.text
        contact = response.json()
        assert contact["emails"] == ["j.weiss@example.de"]
        assert contact["phones"] == ["+491712345678"]
        fetched = client.get(f"/api/v1/contacts/{contact['id']}", headers=rep).json()
        assert fetched == contact

    def test_a_duplicate_email_points_to_the_existing_contact(self, client, session, rep):
        existing = make_contact(session, emails=["dup@example.com"])
        response = client.post(
            "/api/v1/contacts",
            headers=rep,
            json={"first_name": "A", "last_name": "B", "emails": ["DUP@example.com"]},
        )
        assert response.status_code == 409
        assert response.json()["existing_contact_id"] == existing.id
        assert existing.name in response.json()["detail"]

    @pytest.mark.parametrize(
        "body",
        [
            {"first_name": "", "last_name": "B"},
            {"first_name": "A"},
            {"first_name": "A", "last_name": "B", "emails": ["not an address"]},
            {"first_name": "A", "last_name": "B", "phones": ["0"]},
            {"first_name": "A", "last_name": "B", "company_id": 999999},
            {"first_name": "A", "last_name": "B", "buying_role": "king"},
        ],
    )
    def test_bad_input_is_refused(self, client, session, rep, body):
        response = client.post("/api/v1/contacts", headers=rep, json=body)
        assert response.status_code == 422
        assert contact_service.list_contacts(session)[0] == []

    def test_update_and_delete(self, client, session, rep):
        contact = make_contact(session)
        response = client.patch(
            f"/api/v1/contacts/{contact.id}",
            headers=rep,
            json={"job_title": "Einkauf", "phones": ["030 123456"]},
        )
        assert response.json()["job_title"] == "Einkauf"
        assert response.json()["phones"] == ["+4930123456"]
        assert client.delete(f"/api/v1/contacts/{contact.id}", headers=rep).status_code == 204
        events = audit.events_for(session, entity_type="contact", entity_id=contact.id)
        assert [e.action for e in events][:2] == ["contact.delete", "contact.update"]

    def test_list_filters_search_and_sorts(self, client, session, rep):
        company = make_company(session)
        anna = make_contact(session, first_name="Anna", last_name="Apfel", company_id=company.id)
        bernd = make_contact(session, first_name="Bernd", last_name="Birne", company_id=company.id)
        make_contact(session, first_name="Clara", last_name="Apfelbaum")
        by_company = client.get(
            "/api/v1/contacts", headers=rep, params={"company_id": company.id, "sort": "-name"}
        ).json()
        assert [c["id"] for c in by_company["items"]] == [bernd.id, anna.id]
        found = client.get("/api/v1/contacts", headers=rep, params={"q": "apfel"}).json()
        assert [c["last_name"] for c in found["items"]] == ["Apfel", "Apfelbaum"]

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 201}, {"sort": "email"}, {"owner_id": "me"}]
    )
    def test_bad_list_parameters_are_422(self, client, session, rep, params):
        assert client.get("/api/v1/contacts", headers=rep, params=params).status_code == 422

    def test_a_broken_cursor_is_400(self, client, session, rep):
        response = client.get("/api/v1/contacts", headers=rep, params={"cursor": "%%%"})
        assert response.status_code == 400 and "cursor" in response.json()["detail"]


class TestPermissions:
    def test_a_dpo_may_read_but_not_change(self, client, session):
        dpo = bearer(session, Role.DPO)
        contact = make_contact(session)
        assert client.get(f"/api/v1/contacts/{contact.id}", headers=dpo).status_code == 200
        assert client.get("/api/v1/contacts", headers=dpo).status_code == 200
        assert (
            client.post(
                "/api/v1/contacts", headers=dpo, json={"first_name": "A", "last_name": "B"}
            ).status_code
            == 403
        )
        assert (
            client.patch(
                f"/api/v1/contacts/{contact.id}", headers=dpo, json={"last_name": "X"}
            ).status_code
            == 403
        )
        assert client.delete(f"/api/v1/contacts/{contact.id}", headers=dpo).status_code == 403
        assert client.post("/api/v1/companies", headers=dpo, json={"name": "X"}).status_code == 403
        session.refresh(contact)
        assert contact.last_name != "X"

    @pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/companies"])
    def test_anonymous_callers_get_401(self, client, path):
        assert client.get(path).status_code == 401
