"""Follow-up rules through the JSON API and the admins' pages."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from crm.followups.models import FollowupRule, FollowupRun
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate
from crm.users.models import Role
from tests.api.followups.test_followups import bearer
from tests.conftest import login, post_form
from tests.factories import make_contact, make_user


def classic(session):
    journey = next(j for j in journey_service.list_journeys(session) if j.name == "Classic")
    return journey, {p.key: p for p in journey_service.phases_of(session, journey)}


def test_rule_crud_through_the_api(client, session):
    admin = bearer(session, make_user(session, roles=(Role.ADMIN,)))
    rep = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    journey, phases = classic(session)
    body = {
        "name": "Detractors",
        "journey_id": journey.id,
        "phase_ids": [phases["retention"].id, phases["advocacy"].id],
        "trigger": "nps",
        "nps_at_most": 6,
        "title_template": "Call {name}",
        "due_in_days": 2,
    }
    created = client.post("/api/v1/followup-rules", headers=admin, json=body)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert sorted(rule["phase_ids"]) == sorted(body["phase_ids"])
    assert (rule["trigger"], rule["days"], rule["nps_at_most"]) == ("nps", None, 6)
    url = f"/api/v1/followup-rules/{rule['id']}"
    assert client.get(url, headers=rep).json()["name"] == "Detractors"
    assert client.patch(url, headers=rep, json={"name": "x"}).status_code == 403
    patched = client.patch(
        url, headers=admin, json={"phase_ids": [phases["retention"].id], "is_active": False}
    )
    assert (patched.json()["phase_ids"], patched.json()["is_active"]) == (
        [phases["retention"].id],
        False,
    )
    assert client.delete(url, headers=rep).status_code == 403
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404


def test_impossible_rules_get_a_clear_422_and_change_nothing(client, session):
    admin = bearer(session, make_user(session, roles=(Role.ADMIN,)))
    journey, _ = classic(session)
    other = journey_service.create_journey(
        session,
        data=JourneyCreate(name="B2B", template="b2b_five"),
        actor_id=None,
    )
    session.commit()
    foreign = journey_service.phases_of(session, other)[0]
    base = {
        "name": "Bad",
        "journey_id": journey.id,
        "trigger": "quiet",
        "days": 30,
        "title_template": "x",
    }
    before = len(client.get("/api/v1/followup-rules", headers=admin).json())
    for change, said in (
        ({"days": -5}, "days"),
        ({"trigger": "nps", "nps_at_most": 11}, "nps_at_most"),
        ({"trigger": "nps", "nps_at_least": -1}, "nps_at_least"),
        ({"trigger": "nps"}, '"field":"nps_at_most"'),
        ({"phase_ids": [foreign.id]}, '"field":"phase_ids"'),
        ({"move_to_phase_id": foreign.id}, '"field":"move_to_phase_id"'),
        ({"days": None}, "Give the number of days."),
        ({"trigger": "date"}, "Choose the date to count down to."),
        ({"assignee_mode": "user"}, '"field":"assignee_id"'),
    ):
        answer = client.post("/api/v1/followup-rules", headers=admin, json={**base, **change})
        assert answer.status_code == 422, (change, answer.text)
        assert said in answer.text, (change, answer.text)
    assert len(client.get("/api/v1/followup-rules", headers=admin).json()) == before


def test_admins_create_edit_and_delete_rules_on_their_pages(client, session):
    admin = make_user(session, roles=(Role.ADMIN,))
    journey, phases = classic(session)
    login(client, admin.email)
    page = client.get("/followups/rules/new")
    assert page.status_code == 200 and "Phases it watches" in page.text
    form = {
        "name": "Renewals",
        "journey_id": journey.id,
        "phase_ids": [phases["retention"].id],
        "trigger": "date",
        "days": "45",
        "title_template": "Renewal with {name}",
        "due_in_days": "3",
        "is_active": "true",
    }
    refused = post_form(client, "/followups/rules", form)
    assert refused.status_code == 422
    assert "Choose the date to count down to." in refused.text
    assert 'value="Renewal with {name}"' in refused.text  # the input is kept
    created = post_form(client, "/followups/rules", {**form, "date_field": "company_renewal"})
    assert created.status_code == 303
    rule = session.exec(select(FollowupRule).where(FollowupRule.name == "Renewals")).one()
    listing = client.get("/followups/rules")
    assert "45 days before the company&#39;s renewal date" in listing.text
    edited = post_form(
        client,
        f"/followups/rules/{rule.id}",
        {
            "name": "Renewals",
            "trigger": "cadence",
            "days": "30",
            "title_template": "Check in with {name}",
            "due_in_days": "0",
            "assignee_mode": "owner",
        },
        form_page=f"/followups/rules/{rule.id}",
    )
    assert edited.status_code == 303
    session.refresh(rule)
    assert (rule.trigger, rule.days, rule.date_field, rule.is_active) == (
        "cadence",
        30,
        None,
        False,
    )
    rule_id = rule.id
    deleted = post_form(client, f"/followups/rules/{rule_id}/delete")
    assert deleted.status_code == 303
    session.expire_all()
    assert session.exec(select(FollowupRule).where(FollowupRule.id == rule_id)).first() is None


def test_runs_are_shown_to_admins_and_run_from_the_page(client, session):
    admin = make_user(session, roles=(Role.ADMIN,))
    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    journey, phases = classic(session)
    contact = make_contact(session, first_name="Quinn", last_name="Quiet")
    journey_service.enroll(
        session,
        data=EnrollmentCreate(
            journey_id=journey.id,
            phase_id=phases["retention"].id,
            contact_id=contact.id,
            at=datetime.now(UTC) - timedelta(days=15),
        ),
        actor_id=None,
    )
    session.add(
        FollowupRule(
            name="Fortnight",
            journey_id=journey.id,
            trigger="time_in_phase",
            days=14,
            title_template="Call {name}",
        )
    )
    session.commit()
    login(client, manager.email)
    assert client.get("/followups/rules").status_code == 403
    login(client, admin.email)
    ran = post_form(client, "/followups/run", form_page="/followups/rules")
    assert ran.status_code == 303
    page = client.get("/followups/rules")
    assert "Recent runs" in page.text and "follow-ups created." in page.text
    run = session.exec(select(FollowupRun).order_by(FollowupRun.id.desc())).first()
    assert run.created >= 1 and run.error is None
