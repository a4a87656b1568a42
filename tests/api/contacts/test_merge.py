"""Merging duplicates through the API and the merge screen."""

import pytest

from crm.contacts import service as contact_service
from crm.core.errors import NotFound
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import log_touchpoint, make_company, make_contact, make_token, make_user


def bearer(session, role=Role.SALES_REP):
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


def test_merge_contacts_through_the_api(client, session):
    target = make_contact(session, job_title=None)
    duplicate = make_contact(session, job_title="Einkauf", first_name="Other")
    response = client.post(
        f"/api/v1/contacts/{target.id}/merge",
        headers=bearer(session),
        json={"duplicate_id": duplicate.id, "take_from_duplicate": ["first_name"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["first_name"], body["job_title"]) == ("Other", "Einkauf")
    assert len(body["emails"]) == 2
    assert (
        client.get(f"/api/v1/contacts/{duplicate.id}", headers=bearer(session)).status_code == 404
    )


@pytest.mark.parametrize(
    "body",
    [
        {"duplicate_id": 999999},
        {"duplicate_id": "x"},
        {"duplicate_id": 0, "take_from_duplicate": ["secret"]},
    ],
)
def test_bad_merge_requests_change_nothing(client, session, body):
    target, duplicate = make_contact(session), make_contact(session)
    if body["duplicate_id"] == 0:
        body = {**body, "duplicate_id": duplicate.id}
    response = client.post(
        f"/api/v1/contacts/{target.id}/merge", headers=bearer(session), json=body
    )
    assert response.status_code in (404, 422)
    assert contact_service.get_contact(session, contact_id=duplicate.id)


def test_merge_companies_through_the_api(client, session):
    target, duplicate = make_company(session), make_company(session)
    person = make_contact(session, company_id=duplicate.id)
    duplicate_id = duplicate.id
    response = client.post(
        f"/api/v1/companies/{target.id}/merge",
        headers=bearer(session),
        json={"duplicate_id": duplicate.id},
    )
    assert response.status_code == 200
    session.expire_all()
    assert contact_service.get_contact(session, contact_id=person.id).company_id == target.id
    with pytest.raises(NotFound):
        contact_service.get_company(session, company_id=duplicate_id)


def test_a_dpo_may_not_merge(client, session):
    target, duplicate = make_contact(session), make_contact(session)
    response = client.post(
        f"/api/v1/contacts/{target.id}/merge",
        headers=bearer(session, Role.DPO),
        json={"duplicate_id": duplicate.id},
    )
    assert response.status_code == 403


def test_the_merge_screen_compares_and_merges(client, session):
    login(client, make_user(session).email)
    target = make_contact(session, first_name="Kurt", last_name="Keep", segment=None)
    duplicate = make_contact(
        session, first_name="Kurt", last_name="Dupe", segment="SMB", emails=["kurt@dupe.example"]
    )
    log_touchpoint(session, contact_id=duplicate.id, summary="Old call with the duplicate")
    page = client.get(f"/contacts/{target.id}/merge?other=KURT@dupe.example")
    assert page.status_code == 200 and "Kurt Dupe" in page.text and "SMB" in page.text
    assert client.get(f"/contacts/{target.id}/merge?other={duplicate.id}").status_code == 200
    assert client.get(f"/contacts/{target.id}/merge?other=nobody@x.example").status_code == 404
    assert client.get(f"/contacts/{target.id}/merge?other={target.id}").status_code == 422
    # the finder on the contact page: a name typed, none of the results chosen
    unchosen = client.get(f"/contacts/{target.id}/merge?other=&find=Kurt")
    assert unchosen.status_code == 422 and "Choose one of the results" in unchosen.text
    assert 'id="merge-other-finder"' in client.get(f"/contacts/{target.id}").text
    response = post_form(
        client,
        f"/contacts/{target.id}/merge",
        {"duplicate_id": str(duplicate.id), "take": ["last_name"]},
    )
    assert response.status_code == 303
    merged = client.get(f"/contacts/{target.id}").text
    assert "Kurt Dupe" in merged and "Old call with the duplicate" in merged
    assert "was merged into this contact" in merged
