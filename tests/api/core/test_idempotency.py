"""`Idempotency-Key` on the creates a client retries: contacts, touchpoints, deals."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core import idempotency
from crm.core.db import utcnow
from crm.deals.models import Deal
from crm.touchpoints.models import Touchpoint
from crm.users.models import Role
from tests.factories import make_contact, make_token, make_user


@pytest.fixture
def rep(session):
    user = make_user(session, roles=(Role.SALES_REP,))
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).scalar_one()


def creates(session):
    contact = make_contact(session)
    return [
        ("/api/v1/contacts", {"first_name": "Ada", "last_name": "Retry"}, Contact),
        ("/api/v1/touchpoints", {"summary": "Called", "contact_id": contact.id}, Touchpoint),
        ("/api/v1/deals", {"title": "Retried deal", "amount": "100", "currency": "EUR"}, Deal),
    ]


def test_a_retry_answers_the_first_answer_and_creates_nothing(client, session, rep):
    for path, body, model in creates(session):
        headers = {**rep, "Idempotency-Key": f"retry-{path}"}
        first = client.post(path, headers=headers, json=body)
        assert first.status_code == 201, first.text
        before = count(session, model)
        again = client.post(path, headers=headers, json=body)
        assert (again.status_code, again.json()) == (201, first.json()), path
        assert count(session, model) == before


def test_without_a_key_every_request_creates(client, session, rep):
    for path, body, model in creates(session):
        before = count(session, model)
        for _ in range(2):
            assert client.post(path, headers=rep, json=body).status_code == 201
        assert count(session, model) == before + 2, path


def test_a_key_is_for_one_request_and_one_user(client, session, rep):
    headers = {**rep, "Idempotency-Key": "one-request"}
    first = client.post(
        "/api/v1/contacts", headers=headers, json={"first_name": "A", "last_name": "B"}
    )
    assert first.status_code == 201
    other = client.post(
        "/api/v1/contacts", headers=headers, json={"first_name": "C", "last_name": "D"}
    )
    assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")
    elsewhere = client.post(
        "/api/v1/deals", headers=headers, json={"title": "A", "amount": "1", "currency": "EUR"}
    )
    assert elsewhere.status_code == 422
    colleague = make_user(session, roles=(Role.SALES_REP,))
    theirs = {
        "Authorization": f"Bearer {make_token(session, colleague)}",
        "Idempotency-Key": "one-request",
    }
    second = client.post(
        "/api/v1/contacts", headers=theirs, json={"first_name": "A", "last_name": "B"}
    )
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]


def test_a_retry_after_the_record_was_deleted_creates_nothing(client, session, rep):
    headers = {**rep, "Idempotency-Key": "gone"}
    body = {"first_name": "Gone", "last_name": "Soon"}
    first = client.post("/api/v1/contacts", headers=headers, json=body).json()
    assert client.delete(f"/api/v1/contacts/{first['id']}", headers=rep).status_code == 204
    before = count(session, Contact)
    again = client.post("/api/v1/contacts", headers=headers, json=body)
    assert again.status_code == 409
    assert count(session, Contact) == before


def test_a_refused_create_keeps_no_key(client, session, rep):
    headers = {**rep, "Idempotency-Key": "refused-first"}
    refused = client.post("/api/v1/touchpoints", headers=headers, json={"summary": "No subject"})
    assert refused.status_code == 422
    contact = make_contact(session)
    body = {"summary": "With subject", "contact_id": contact.id}
    assert client.post("/api/v1/touchpoints", headers=headers, json=body).status_code == 201


@pytest.mark.parametrize("key", ["", "a" * 256, "with space"])
def test_malformed_keys_are_refused(client, rep, key):
    headers = {**rep, "Idempotency-Key": key}
    answer = client.post(
        "/api/v1/contacts", headers=headers, json={"first_name": "A", "last_name": "B"}
    )
    assert answer.status_code == 422


def test_keys_are_forgotten_after_a_day(session, client, rep):
    client.post(
        "/api/v1/contacts",
        headers={**rep, "Idempotency-Key": "old"},
        json={"first_name": "A", "last_name": "Old"},
    )
    assert idempotency.purge(session, now=utcnow() + timedelta(hours=23)) == 0
    assert idempotency.purge(session, now=utcnow() + timedelta(days=1, minutes=1)) == 1
