"""Journeys, phases, enrollments and moves through the JSON API."""

import pytest
from fastapi.testclient import TestClient

from crm.main import create_app
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_token, make_user


def bearer(session, role: Role = Role.SALES_REP) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


@pytest.fixture
def admin(session):
    return bearer(session, Role.ADMIN)


@pytest.fixture
def journey(client, admin):
    response = client.post(
        "/api/v1/journeys", headers=admin, json={"name": "Partners", "template": "b2b_five"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_admins_build_journeys_and_phases(client, admin, journey):
    assert [p["key"] for p in journey["phases"]] == [
        "awareness",
        "consideration",
        "decision",
        "purchase",
        "post_purchase",
    ]
    url = f"/api/v1/journeys/{journey['id']}"
    added = client.post(
        f"{url}/phases",
        headers=admin,
        json={"name": "Renewal", "kind": "post_purchase", "target_days": 30, "emotions": "Relief"},
    )
    assert added.status_code == 201 and added.json()["key"] == "renewal"
    ids = [p["id"] for p in journey["phases"]] + [added.json()["id"]]
    order = client.put(f"{url}/phases/order", headers=admin, json={"phase_ids": ids[::-1]})
    assert [p["id"] for p in order.json()] == ids[::-1]
    renamed = client.patch(
        f"/api/v1/phases/{ids[0]}", headers=admin, json={"name": "First contact"}
    )
    assert renamed.json()["name"] == "First contact"
    patched = client.patch(url, headers=admin, json={"segment": "Partners"})
    assert patched.json()["segment"] == "Partners"
    listed = client.get("/api/v1/journeys", headers=admin).json()
    assert journey["id"] in {j["id"] for j in listed}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "name"),
        ({"name": "partners"}, "A journey with this name exists already."),
        ({"name": "New", "template": "unknown"}, "Choose one of the offered values."),
    ],
)
def test_bad_journeys_are_refused(client, admin, journey, body, message):
    response = client.post("/api/v1/journeys", headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert message in response.text


def test_only_admins_change_journeys(client, session, journey):
    rep = bearer(session)
    assert client.get(f"/api/v1/journeys/{journey['id']}", headers=rep).status_code == 200
    assert client.post("/api/v1/journeys", headers=rep, json={"name": "X"}).status_code == 403
    phase = journey["phases"][0]["id"]
    assert (
        client.patch(f"/api/v1/phases/{phase}", headers=rep, json={"name": "Y"}).status_code == 403
    )
    assert client.delete(f"/api/v1/journeys/{journey['id']}", headers=rep).status_code == 403
    dpo = bearer(session, Role.DPO)
    body = {"journey_id": journey["id"], "phase_id": phase, "contact_id": make_contact(session).id}
    assert client.post("/api/v1/enrollments", headers=dpo, json=body).status_code == 403


def test_enroll_move_exit_and_come_back(client, session, journey):
    rep = bearer(session)
    phases = {p["key"]: p["id"] for p in journey["phases"]}
    company = make_company(session)
    created = client.post(
        "/api/v1/enrollments",
        headers=rep,
        json={
            "journey_id": journey["id"],
            "company_id": company.id,
            "phase_id": phases["awareness"],
            "at": "2026-03-01T10:00:00+01:00",
        },
    )
    assert created.status_code == 201, created.text
    enrollment = created.json()
    assert enrollment["status"] == "active" and enrollment["started_at"].startswith("2026-03-01T09")
    url = f"/api/v1/enrollments/{enrollment['id']}"
    moved = client.post(
        f"{url}/move",
        headers=rep,
        json={"phase_id": phases["decision"], "at": "2026-03-11T09:00:00Z", "note": "Skipped"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["time_in_phases"][0] == {
        "phase_id": phases["awareness"],
        "entries": 1,
        "days": 10.0,
    }
    lost = client.post(
        f"{url}/move",
        headers=rep,
        json={"exit": "lost", "exit_reason": "no_budget", "at": "2026-03-12T09:00:00Z"},
    )
    assert lost.json()["status"] == "lost" and lost.json()["exit_reason"] == "no_budget"
    back = client.post(f"{url}/move", headers=rep, json={"phase_id": phases["consideration"]})
    assert back.json()["status"] == "active" and back.json()["exit_reason"] is None
    history = client.get(f"{url}/transitions", headers=rep).json()
    assert [(t["from_phase_id"], t["to_phase_id"], t["status"]) for t in history] == [
        (None, phases["awareness"], "active"),
        (phases["awareness"], phases["decision"], "active"),
        (phases["decision"], None, "lost"),
        (None, phases["consideration"], "active"),
    ]
    assert history[1]["note"] == "Skipped" and history[2]["exit_reason"] == "no_budget"
    assert client.get(url, headers=rep).json()["phase_id"] == phases["consideration"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),  # neither a phase nor an exit
        ({"phase_id": "PHASE", "exit": "lost"}, 422),  # both
        ({"exit": "lost"}, 422),  # no reason
        ({"exit": "active", "exit_reason": "price"}, 422),
        ({"phase_id": "FOREIGN"}, 422),  # a phase of another journey
        ({"phase_id": "PHASE", "at": "2020-01-01T00:00:00Z"}, 422),  # before the enrollment
        ({"phase_id": "PHASE", "at": "2099-01-01T00:00:00Z"}, 422),  # in the future
        ({"phase_id": "PHASE", "at": "2026-03-11T09:00:00"}, 422),  # no time zone
        ({"phase_id": 999999}, 422),
    ],
)
def test_bad_moves_are_refused_and_change_nothing(client, session, admin, journey, body, status):
    rep = bearer(session)
    phases = {p["key"]: p["id"] for p in journey["phases"]}
    other = client.post(
        "/api/v1/journeys", headers=admin, json={"name": "Other", "template": "classic"}
    ).json()
    values = {"PHASE": phases["decision"], "FOREIGN": other["phases"][0]["id"]}
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    enrollment = client.post(
        "/api/v1/enrollments",
        headers=rep,
        json={
            "journey_id": journey["id"],
            "contact_id": make_contact(session).id,
            "phase_id": phases["awareness"],
        },
    ).json()
    url = f"/api/v1/enrollments/{enrollment['id']}"
    response = client.post(f"{url}/move", headers=rep, json=body)
    assert response.status_code == status, response.text
    assert "detail" in response.json() or "message" in response.json()
    assert len(client.get(f"{url}/transitions", headers=rep).json()) == 1
    assert client.get(url, headers=rep).json()["phase_id"] == phases["awareness"]


def test_enrolling_twice_and_deleting_a_used_journey_are_conflicts(client, session, admin, journey):
    rep = bearer(session)
    body = {
        "journey_id": journey["id"],
        "contact_id": make_contact(session).id,
        "phase_id": journey["phases"][0]["id"],
    }
    first = client.post("/api/v1/enrollments", headers=rep, json=body)
    again = client.post("/api/v1/enrollments", headers=rep, json=body)
    assert again.status_code == 409
    assert str(first.json()["id"]) in again.text
    deleted = client.delete(f"/api/v1/journeys/{journey['id']}", headers=admin)
    assert deleted.status_code == 409
    archived = client.patch(
        f"/api/v1/journeys/{journey['id']}", headers=admin, json={"is_archived": True}
    )
    assert archived.json()["is_archived"] is True
    body["contact_id"] = make_contact(session).id
    assert client.post("/api/v1/enrollments", headers=rep, json=body).status_code == 422


def test_unknown_ids_are_404(client, session):
    rep = bearer(session)
    assert client.get("/api/v1/journeys/999999", headers=rep).status_code == 404
    assert client.get("/api/v1/enrollments/999999", headers=rep).status_code == 404
    assert (
        client.post(
            "/api/v1/enrollments/999999/move", headers=rep, json={"phase_id": 1}
        ).status_code
        == 404
    )


def test_admins_edit_the_exit_reasons_like_any_list(client, session, admin, journey):
    reasons = client.get("/api/v1/lists/exit_reasons", headers=admin).json()
    price = next(r for r in reasons if r["key"] == "price")
    added = client.post(
        "/api/v1/lists/exit_reasons", headers=admin, json={"key": "merger", "name": "Merger"}
    )
    assert added.status_code == 201
    retired = client.patch(
        f"/api/v1/lists/exit_reasons/{price['id']}", headers=admin, json={"is_active": False}
    )
    assert retired.json()["is_active"] is False
    rep = bearer(session)
    enrollment = client.post(
        "/api/v1/enrollments",
        headers=rep,
        json={
            "journey_id": journey["id"],
            "contact_id": make_contact(session).id,
            "phase_id": journey["phases"][0]["id"],
        },
    ).json()
    url = f"/api/v1/enrollments/{enrollment['id']}/move"
    refused = client.post(url, headers=rep, json={"exit": "lost", "exit_reason": "price"})
    assert refused.status_code == 422
    left = client.post(url, headers=rep, json={"exit": "lost", "exit_reason": "merger"})
    assert left.json()["exit_reason"] == "merger"


def test_a_subjects_journeys_are_listed_as_its_page_shows_them(client, session, journey):
    rep = bearer(session)
    phases = {p["key"]: p["id"] for p in journey["phases"]}
    company = make_company(session)
    contact = make_contact(session, company_id=company.id)
    for subject, phase in (
        ({"company_id": company.id}, "decision"),
        ({"contact_id": contact.id}, "awareness"),
    ):
        answer = client.post(
            "/api/v1/enrollments",
            headers=rep,
            json={"journey_id": journey["id"], "phase_id": phases[phase], **subject},
        )
        assert answer.status_code == 201, answer.text

    mine = client.get(f"/api/v1/contacts/{contact.id}/enrollments", headers=rep).json()
    assert sorted((m["phase_name"], m["via_company"], m["contact_id"]) for m in mine) == [
        ("Awareness", False, contact.id),
        ("Decision", True, None),
    ]
    assert {m["journey_name"] for m in mine} == {"Partners"}
    theirs = client.get(f"/api/v1/companies/{company.id}/enrollments", headers=rep).json()
    assert [(m["phase_name"], m["company_id"], m["via_company"]) for m in theirs] == [
        ("Decision", company.id, False)
    ]
    assert theirs[0]["status"] == "active" and theirs[0]["days_in_phase"] >= 0
    assert client.get("/api/v1/contacts/999999/enrollments", headers=rep).status_code == 404
    alone = make_contact(session)
    assert client.get(f"/api/v1/contacts/{alone.id}/enrollments", headers=rep).json() == []


def test_a_template_names_its_phases_in_the_installations_language(settings, engine, app, session):
    """In a German installation a journey made from a template gets German phases and a
    German description, through the API and the page alike, whoever's UI is English."""
    german = create_app(settings.model_copy(update={"default_language": "de"}), engine=engine)
    german.dependency_overrides = app.dependency_overrides
    client = TestClient(german, follow_redirects=False)
    made = client.post(
        "/api/v1/journeys",
        headers=bearer(session, Role.ADMIN),
        json={"name": "Partner", "template": "b2b_five"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["template"] == "b2b_five"
    assert [p["name"] for p in made.json()["phases"]][:2] == ["Aufmerksamkeit", "Abwägung"]

    admin = make_user(session, roles=(Role.ADMIN,))
    login(client, admin.email)
    page = post_form(
        client, "/journeys", {"name": "Seite", "template": "classic"}, form_page="/journeys"
    )
    assert page.status_code == 303
    journeys = client.get("/api/v1/journeys", headers=bearer(session, Role.ADMIN)).json()
    seite = next(j for j in journeys if j["name"] == "Seite")
    assert seite["template"] == "classic"
    assert seite["phases"][0]["name"] == "Aufmerksamkeit"
    assert seite["description"].startswith("B2C und allgemein")
