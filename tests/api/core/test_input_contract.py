"""What every write of the API refuses: unknown fields, dates out of range, NUL
characters and lone surrogates; each a 422 that names the field, never a 5xx."""

import inspect
import json
import typing

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from crm.main import ROUTERS
from crm.users.models import Role
from tests.factories import make_contact, make_token, make_user


@pytest.fixture
def everyone(session) -> dict[str, str]:
    user = make_user(session, roles=tuple(Role))
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def _models(annotation: typing.Any) -> typing.Iterator[type[BaseModel]]:
    for argument in typing.get_args(annotation):
        yield from _models(argument)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)


def api_body_models() -> dict[type[BaseModel], str]:
    """Every model an API operation reads from a request body, nested ones included."""
    found: dict[type[BaseModel], str] = {}
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/api/"):
                for param in route.dependant.body_params:
                    for model in _models(param.field_info.annotation):
                        found.setdefault(model, f"{sorted(route.methods)} {route.path}")
    return found


def test_every_write_schema_refuses_unknown_fields():
    lax = [
        f"{model.__name__} ({route})"
        for model, route in api_body_models().items()
        if model.model_config.get("extra") != "forbid"
    ]
    assert len(api_body_models()) > 50
    assert lax == []


def test_an_unknown_field_is_named_and_nothing_is_created(client, everyone):
    answer = client.post(
        "/api/v1/contacts",
        headers=everyone,
        json={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "email"
    assert answer.json()["detail"][0]["type"] == "extra_forbidden"
    listed = client.get("/api/v1/contacts", headers=everyone, params={"q": "Lovelace"})
    assert listed.json()["items"] == []


def post_followup(client, headers, contact_id: int, due_at: str):
    return client.post(
        "/api/v1/followups",
        headers=headers,
        json={"title": "Call", "due_at": due_at, "contact_id": contact_id},
    )


def test_a_nested_unknown_field_is_named(client, session, everyone):
    contact = make_contact(session)
    followup = post_followup(client, everyone, contact.id, "2026-12-08T09:00:00Z").json()
    answer = client.post(
        f"/api/v1/followups/{followup['id']}/complete",
        headers=everyone,
        json={"summary": "Called", "touchpoint": {"channel": "call", "mood": "fine"}},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "touchpoint.mood")


EXTREME_MOMENTS = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
    "1899-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
]


@pytest.mark.parametrize("moment", EXTREME_MOMENTS)
def test_times_out_of_range_are_refused_in_bodies(client, session, everyone, moment):
    contact = make_contact(session)
    made = post_followup(client, everyone, contact.id, moment)
    assert (made.status_code, made.json()["field"]) == (422, "due_at")
    followup = post_followup(client, everyone, contact.id, "2026-12-08T09:00:00Z").json()
    snoozed = client.post(
        f"/api/v1/followups/{followup['id']}/snooze", headers=everyone, json={"until": moment}
    )
    assert (snoozed.status_code, snoozed.json()["field"]) == (422, "until")
    received = client.post(
        "/api/v1/privacy-requests",
        headers=everyone,
        json={"kind": "access", "requester_name": "Ada", "received_at": moment},
    )
    assert (received.status_code, received.json()["field"]) == (422, "received_at")


@pytest.mark.parametrize("moment", EXTREME_MOMENTS)
@pytest.mark.parametrize(
    ("path", "names"),
    [("/api/v1/touchpoints", ("since", "until")), ("/api/v1/followups", ("due_from", "due_to"))],
)
def test_times_out_of_range_are_refused_in_queries(client, everyone, moment, path, names):
    for name in names:
        answer = client.get(path, headers=everyone, params={name: moment})
        assert (answer.status_code, answer.json()["field"]) == (422, name)


def test_a_time_without_its_zone_is_refused(client, session, everyone):
    contact = make_contact(session)
    answer = post_followup(client, everyone, contact.id, "2026-12-08T09:00:00")
    assert answer.status_code == 422
    assert "time zone" in answer.json()["detail"][0]["msg"]


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-03", "9999-12-31"])
def test_dates_out_of_range_are_refused(client, everyone, day):
    answer = client.get("/api/v1/privacy-requests", headers=everyone, params={"due_before": day})
    assert (answer.status_code, answer.json()["field"]) == (422, "due_before")
    analytics = client.get("/api/v1/deals/performance", headers=everyone, params={"to": day})
    assert (analytics.status_code, analytics.json()["field"]) == (422, "to")


def test_a_company_renewal_out_of_range_is_refused(client, everyone):
    answer = client.post(
        "/api/v1/companies",
        headers=everyone,
        json={"name": "Zeit AG", "renewal_date": "0001-01-01"},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "renewal_date")


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "a\x00b"])
def test_unfit_text_in_a_json_body_is_named(client, everyone, text):
    body = json.dumps({"first_name": "Ada", "last_name": text})  # escapes, as clients send
    answer = client.post(
        "/api/v1/contacts",
        headers={**everyone, "Content-Type": "application/json"},
        content=body,
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "last_name")


def test_unfit_text_deep_in_a_body_is_named(client, session, everyone):
    answer = client.post(
        "/api/v1/deals",
        headers={**everyone, "Content-Type": "application/json"},
        content=json.dumps({"title": "Deal", "contacts": [{"contact_id": 1, "role": "\x00"}]}),
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "contacts.0.role")


def test_a_paired_surrogate_is_an_ordinary_character(client, everyone):
    body = json.dumps({"first_name": "Ada", "last_name": "Lovelace \U0001f600"})
    answer = client.post(
        "/api/v1/contacts",
        headers={**everyone, "Content-Type": "application/json"},
        content=body,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["last_name"] == "Lovelace \U0001f600"


@pytest.mark.parametrize("query", ["q=a%00b", "q=%00", "segment=x%00"])
def test_nul_in_a_query_is_refused_on_every_database(client, everyone, query):
    answer = client.get(f"/api/v1/contacts?{query}", headers=everyone)
    assert answer.status_code == 422
    assert answer.json()["field"] == query.split("=")[0]


def test_nul_in_a_page_query_or_form_is_a_422_page(client, session):
    user = make_user(session, roles=(Role.SALES_REP,))
    from tests.conftest import csrf_token, login

    login(client, user.email)
    assert client.get("/contacts?q=a%00b").status_code == 422
    token = csrf_token(client, "/contacts/new")
    answer = client.post(
        "/contacts", data={"first_name": "Ada\x00", "last_name": "L", "csrf_token": token}
    )
    assert answer.status_code == 422
