"""Pipelines, stages and deals through the JSON API, bad input included."""

import pytest

from crm.journeys import service as journey_service
from crm.users.models import Role
from tests.factories import make_company, make_contact, make_token, make_user


def bearer(session, role: Role = Role.SALES_REP) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


@pytest.fixture
def rep(session):
    return bearer(session)


@pytest.fixture
def admin(session):
    return bearer(session, Role.ADMIN)


@pytest.fixture
def pipeline(client, rep):
    return client.get("/api/v1/pipelines", headers=rep).json()[0]


def win(client, headers, amount, company_id):
    """A deal of ``amount`` for the company, won through the API."""
    deal = client.post(
        "/api/v1/deals",
        headers=headers,
        json={"title": "Won", "amount": amount, "company_id": company_id},
    ).json()
    client.post(f"/api/v1/deals/{deal['id']}/won", headers=headers)


def stage(pipeline, key):
    return next(s["id"] for s in pipeline["stages"] if s["key"] == key)


def test_admins_build_pipelines(client, admin, rep):
    body = {
        "name": "Renewals",
        "move_on_won": False,
        "stages": [
            {"name": "Due", "probability": 60, "target_days": 30},
            {"name": "Signed", "kind": "won", "probability": 100},
            {"name": "Lapsed", "kind": "lost"},
        ],
    }
    assert client.post("/api/v1/pipelines", headers=rep, json=body).status_code == 403
    created = client.post("/api/v1/pipelines", headers=admin, json=body)
    assert created.status_code == 201, created.text
    pipeline = created.json()
    assert [(s["key"], s["kind"]) for s in pipeline["stages"]] == [
        ("due", "open"),
        ("signed", "won"),
        ("lapsed", "lost"),
    ]
    url = f"/api/v1/pipelines/{pipeline['id']}"
    added = client.post(
        f"{url}/stages", headers=admin, json={"name": "Offer sent", "probability": 80}
    )
    assert added.status_code == 201
    ids = [added.json()["id"]] + [s["id"] for s in pipeline["stages"]]
    order = client.put(f"{url}/stages/order", headers=admin, json={"stage_ids": ids})
    assert [s["id"] for s in order.json()] == ids
    bad_order = client.put(f"{url}/stages/order", headers=admin, json={"stage_ids": ids[:2]})
    assert bad_order.status_code == 422
    patched = client.patch(f"/api/v1/stages/{ids[0]}", headers=admin, json={"probability": 101})
    assert patched.status_code == 422
    renamed = client.patch(url, headers=admin, json={"name": "Contract renewals"})
    assert renamed.json()["name"] == "Contract renewals"
    twice = client.post("/api/v1/pipelines", headers=admin, json={"name": "contract renewals"})
    assert twice.status_code == 422


def test_deals_from_creation_to_won(client, session, rep, pipeline):
    company = make_company(session, name="Brauhaus Nord")
    anna = make_contact(session, first_name="Anna", last_name="Deal", company_id=company.id)
    created = client.post(
        "/api/v1/deals",
        headers=rep,
        json={
            "title": "Brewing line",
            "company_id": company.id,
            "amount": "12500.50",
            "currency": "eur",
            "expected_close_date": "2027-01-31",
            "contacts": [{"contact_id": anna.id, "role": "Decision maker"}],
        },
    )
    assert created.status_code == 201, created.text
    deal = created.json()
    assert (deal["amount"], deal["currency"], deal["probability"]) == ("12500.50", "EUR", 10)
    assert deal["probability_is_default"] is True
    assert deal["contacts"] == [
        {"contact_id": anna.id, "name": "Anna Deal", "role": "Decision maker"}
    ]
    url = f"/api/v1/deals/{deal['id']}"
    moved = client.post(f"{url}/move", headers=rep, json={"stage_id": stage(pipeline, "proposal")})
    assert moved.json()["probability"] == 50
    own = client.patch(url, headers=rep, json={"probability": 65, "next_step": "Call Anna"})
    assert (own.json()["probability"], own.json()["probability_is_default"]) == (65, False)
    won = client.post(f"{url}/won", headers=rep)
    assert won.json()["status"] == "won" and won.json()["closed_at"]
    # the company and Anna joined the linked journey's first post-purchase phase
    for subject in ({"company_id": company.id}, {"contact_id": anna.id}):
        (enrollment,) = journey_service.enrollments_of(session, **subject)
        assert journey_service.get_phase(session, phase_id=enrollment.phase_id).key == "retention"
    listed = client.get("/api/v1/deals", params={"status": "won"}, headers=rep).json()
    assert [d["id"] for d in listed["items"]] == [deal["id"]]


def test_lists_filter_and_page(client, session, rep, pipeline):
    company = make_company(session)
    ids = [
        client.post(
            "/api/v1/deals",
            headers=rep,
            json={"title": f"Deal {n}", "company_id": company.id if n % 2 else None},
        ).json()["id"]
        for n in range(5)
    ]
    first = client.get("/api/v1/deals", params={"limit": 2}, headers=rep).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2]
    second = client.get(
        "/api/v1/deals", params={"limit": 2, "cursor": first["next_cursor"]}, headers=rep
    ).json()
    assert [d["id"] for d in second["items"]] == ids[::-1][2:4]
    of_company = client.get("/api/v1/deals", params={"company_id": company.id}, headers=rep)
    assert {d["id"] for d in of_company.json()["items"]} == {ids[1], ids[3]}
    assert (
        client.get("/api/v1/deals", params={"q": "deal 3"}, headers=rep).json()["items"][0]["id"]
        == ids[3]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"title": "Deal", "amount": "-5"},
        {"title": "Deal", "amount": "lots"},
        {"title": "Deal", "currency": "XYZ"},
        {"title": "Deal", "amount": "10.5", "currency": "JPY"},
        {"title": ""},
        {"title": "Deal", "company_id": 999999},
        {"title": "Deal", "contacts": [{"contact_id": 999999}]},
    ],
)
def test_bad_deals_are_refused_and_nothing_is_written(client, rep, body):
    before = client.get("/api/v1/deals", headers=rep).json()["items"]
    answer = client.post("/api/v1/deals", headers=rep, json=body)
    assert answer.status_code == 422, answer.text
    assert client.get("/api/v1/deals", headers=rep).json()["items"] == before


def test_bad_moves_change_nothing(client, session, rep, admin, pipeline):
    other = client.post("/api/v1/pipelines", headers=admin, json={"name": "Other"}).json()
    deal = client.post("/api/v1/deals", headers=rep, json={"title": "Deal"}).json()
    url = f"/api/v1/deals/{deal['id']}"
    foreign = client.post(f"{url}/move", headers=rep, json={"stage_id": stage(other, "proposal")})
    assert foreign.status_code == 422
    no_reason = client.post(f"{url}/lost", headers=rep, json={})
    assert no_reason.status_code == 422
    unknown = client.post(f"{url}/lost", headers=rep, json={"lost_reason": "bored"})
    assert unknown.status_code == 422
    future = client.post(
        f"{url}/move",
        headers=rep,
        json={"stage_id": stage(pipeline, "proposal"), "at": "2999-01-01T00:00:00Z"},
    )
    assert future.status_code == 422
    assert client.get(url, headers=rep).json() == deal
    lost = client.post(f"{url}/lost", headers=rep, json={"lost_reason": "price", "note": "Dear"})
    assert (lost.json()["status"], lost.json()["lost_reason"]) == ("lost", "price")
    closed = client.post(f"{url}/move", headers=rep, json={"stage_id": stage(pipeline, "proposal")})
    assert closed.status_code == 409
    assert client.post(f"{url}/won", headers=rep).status_code == 409
    reopened = client.post(f"{url}/reopen", headers=rep)
    assert (reopened.json()["status"], reopened.json()["stage_id"]) == (
        "open",
        stage(pipeline, "qualified"),
    )


def test_readers_read_and_only_editors_write(client, session, rep):
    dpo = bearer(session, Role.DPO)
    deal = client.post("/api/v1/deals", headers=rep, json={"title": "Deal"}).json()
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=dpo).status_code == 200
    assert client.post("/api/v1/deals", headers=dpo, json={"title": "No"}).status_code == 403
    assert client.post(f"/api/v1/deals/{deal['id']}/won", headers=dpo).status_code == 403
    assert client.get("/api/v1/deals").status_code == 401
    assert client.get("/api/v1/deals/999999", headers=rep).status_code == 404


def test_lost_reasons_are_a_list_admins_edit(client, admin):
    reasons = client.get("/api/v1/lists/lost_reasons", headers=admin).json()
    assert "price" in [r["key"] for r in reasons]
    added = client.post(
        "/api/v1/lists/lost_reasons", headers=admin, json={"key": "merger", "name": "Merger"}
    )
    assert added.status_code == 201


def test_figures_through_the_api(client, session, rep, pipeline):
    company = make_company(session)
    for amount in ("300", "100"):
        win(client, rep, amount, company.id)
    client.post(
        "/api/v1/deals",
        headers=rep,
        json={"title": "Open", "amount": "1000", "expected_close_date": "2027-03-03"},
    )
    forecast = client.get("/api/v1/deals/forecast", headers=rep).json()
    assert forecast == [
        {
            "month": "2027-03",
            "currency": "EUR",
            "deals": 1,
            "amount": "1000.00",
            "weighted": "100.00",
        }
    ]
    performance = client.get("/api/v1/deals/performance", headers=rep).json()
    assert (performance["won"], performance["win_rate"], performance["average_won"]) == (
        2,
        1.0,
        {"EUR": "200.00"},
    )
    assert client.get("/api/v1/deals/abc", headers=rep).json() == {str(company.id): "A"}
    value = client.get(f"/api/v1/companies/{company.id}/lifetime-value", headers=rep).json()
    assert value == {"EUR": "400.00"}
    assert client.get("/api/v1/deals/performance?from=soon", headers=rep).status_code == 422


def test_companies_filter_by_class(client, session, rep):
    big, middle, small = (
        make_company(session, name=n) for n in ("Big Brewery", "Mid", "Small Shop")
    )
    # 900 of 1,000 come first (A), 60 after 90 % (B), 40 after 96 % (C)
    for company, amount in ((big, "900"), (middle, "60"), (small, "40")):
        win(client, rep, amount, company.id)
    a = client.get("/api/v1/companies", params={"abc": "A"}, headers=rep).json()["items"]
    c = client.get("/api/v1/companies", params={"abc": "C"}, headers=rep).json()["items"]
    assert [x["name"] for x in a] == ["Big Brewery"] and [x["name"] for x in c] == ["Small Shop"]
    assert client.get("/api/v1/companies", params={"abc": "D"}, headers=rep).status_code == 422


def test_only_a_pipeline_without_deals_can_be_deleted(client, admin, rep, pipeline):
    client.post(
        "/api/v1/deals", headers=rep, json={"title": "Keeps it", "pipeline_id": pipeline["id"]}
    )
    assert client.delete(f"/api/v1/pipelines/{pipeline['id']}", headers=admin).status_code == 409
    empty = client.post("/api/v1/pipelines", headers=admin, json={"name": "Empty"}).json()
    assert client.delete(f"/api/v1/pipelines/{empty['id']}", headers=rep).status_code == 403
    assert client.delete(f"/api/v1/pipelines/{empty['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/pipelines/{empty['id']}", headers=admin).status_code == 404


def test_the_list_reads_companies_and_contacts_once_for_the_page(client, session, rep, connection):
    from sqlalchemy import event

    def statements_for_page() -> int:
        counted = []

        def listener(*args):
            counted.append(args)

        event.listen(connection.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/api/v1/deals", headers=rep).status_code == 200
        finally:
            event.remove(connection.engine, "before_cursor_execute", listener)
        return len(counted)

    def add_deals(n):
        for _ in range(n):
            company, contact = make_company(session), make_contact(session)
            client.post(
                "/api/v1/deals",
                headers=rep,
                json={
                    "title": "D",
                    "company_id": company.id,
                    "contacts": [{"contact_id": contact.id}],
                },
            )

    add_deals(2)
    few = statements_for_page()
    add_deals(8)
    assert statements_for_page() == few
