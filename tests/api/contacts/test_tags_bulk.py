"""Tags, list filters and bulk actions, through the API and the pages."""

import pytest

from crm.contacts import service as contact_service
from crm.contacts.models import BulkAction, BulkRequest, ContactUpdate
from crm.core.errors import Invalid
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_token, make_user


def bearer(session, role=Role.SALES_REP):
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


class TestTags:
    def test_tags_are_one_per_name_in_any_case_and_filter_lists(self, session):
        vip = make_contact(session, tags=["VIP", "Messe 2026"])
        also = make_contact(session, tags=["vip"])
        make_contact(session)
        assert vip.tags == ["Messe 2026", "VIP"] and also.tags == ["VIP"]
        assert len(contact_service.list_tags(session)) == 2
        found, _ = contact_service.list_contacts(session, tag="Vip")
        assert {c.id for c in found} == {vip.id, also.id}
        contact_service.update_contact(
            session, contact=vip, data=ContactUpdate(tags=[]), actor_id=None
        )
        assert vip.tags == []

    def test_companies_have_tags_too(self, client, session):
        headers = bearer(session)
        created = client.post(
            "/api/v1/companies", headers=headers, json={"name": "Tagged AG", "tags": ["Partner"]}
        ).json()
        assert created["tags"] == ["Partner"]
        make_company(session, name="Untagged")
        listed = client.get("/api/v1/companies", headers=headers, params={"tag": "partner"}).json()
        assert [c["name"] for c in listed["items"]] == ["Tagged AG"]

    def test_a_merge_unites_the_tags(self, session):
        target = make_contact(session, tags=["A", "B"])
        duplicate = make_contact(session, tags=["B", "C"])
        contact_service.merge_contacts(
            session, target=target, duplicate=duplicate, take_from_duplicate=set(), actor_id=None
        )
        assert target.tags == ["A", "B", "C"]

    @pytest.mark.parametrize("tags", [[""], ["x" * 51], [f"t{i}" for i in range(21)]])
    def test_bad_tags_are_refused(self, client, session, tags):
        response = client.post(
            "/api/v1/contacts",
            headers=bearer(session),
            json={"first_name": "A", "last_name": "B", "tags": tags},
        )
        assert response.status_code == 422


class TestBulk:
    def test_assign_tag_and_delete_through_the_api(self, client, session):
        headers = bearer(session)
        owner = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
        contacts = [make_contact(session) for _ in range(3)]
        ids = [c.id for c in contacts]
        assigned = client.post(
            "/api/v1/contacts/bulk",
            headers=headers,
            json={"ids": ids[:2], "action": "assign_owner", "owner_id": owner.id},
        )
        assert assigned.json() == {"affected": 2}
        tagged = client.post(
            "/api/v1/contacts/bulk",
            headers=headers,
            json={"ids": ids, "action": "add_tag", "tag": "Winter campaign"},
        )
        assert tagged.json() == {"affected": 3}
        unconfirmed = client.post(
            "/api/v1/contacts/bulk", headers=headers, json={"ids": ids, "action": "delete"}
        )
        assert unconfirmed.status_code == 422
        session.expire_all()
        owners = [contact_service.get_contact(session, contact_id=i).owner_id for i in ids]
        assert owners[:2] == [owner.id, owner.id]
        assert contact_service.get_contact(session, contact_id=ids[2]).tags == ["Winter campaign"]
        deleted = client.post(
            "/api/v1/contacts/bulk",
            headers=headers,
            json={"ids": ids, "action": "delete", "confirm": True},
        )
        assert deleted.json() == {"affected": 3}
        assert contact_service.list_contacts(session, tag="winter campaign")[0] == []

    def test_bulk_needs_its_value_and_an_editor(self, client, session):
        contact = make_contact(session)
        with pytest.raises(Invalid):
            contact_service.bulk_update(
                session,
                data=BulkRequest(ids=[contact.id], action=BulkAction.ASSIGN_OWNER),
                actor_id=None,
            )
        response = client.post(
            "/api/v1/contacts/bulk",
            headers=bearer(session, Role.DPO),
            json={"ids": [contact.id], "action": "add_tag", "tag": "x"},
        )
        assert response.status_code == 403

    def test_the_list_page_bulk_flow_asks_before_deleting(self, client, session):
        login(client, make_user(session).email)
        keep, gone = (
            make_contact(session, last_name="Bleibt"),
            make_contact(session, last_name="Geht"),
        )
        page = client.get("/contacts")
        assert 'form="bulk" name="ids"' in page.text
        response = post_form(
            client,
            "/contacts/bulk",
            {
                "ids": [str(keep.id), str(gone.id)],
                "action": "add_tag",
                "tag": "Newsletter",
                "back": "/contacts?q=x",
            },
        )
        assert response.status_code == 303 and response.headers["location"] == "/contacts?q=x"
        assert "2 contacts changed." in client.get("/contacts").text
        ask = post_form(client, "/contacts/bulk", {"ids": [str(gone.id)], "action": "delete"})
        assert ask.status_code == 200 and "Geht" in ask.text and 'name="confirm"' in ask.text
        assert contact_service.get_contact(session, contact_id=gone.id)
        done = post_form(
            client, "/contacts/bulk", {"ids": [str(gone.id)], "action": "delete", "confirm": "true"}
        )
        assert done.status_code == 303
        listing = client.get("/contacts?tag=newsletter").text
        assert "Bleibt" in listing and "Geht" not in listing

    def test_nothing_chosen_is_a_message_not_an_error(self, client, session):
        login(client, make_user(session).email)
        response = post_form(
            client,
            "/contacts/bulk",
            {"action": "add_tag", "tag": "x", "back": "https://evil.example/"},
        )
        assert response.status_code == 303 and response.headers["location"] == "/contacts"
        assert "Choose contacts and an action." in client.get("/contacts").text
