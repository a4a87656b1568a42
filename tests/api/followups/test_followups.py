"""Follow-ups through the JSON API, the planner page and the subject's card."""

import re
from datetime import UTC, datetime, timedelta

from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.touchpoints import service as touchpoint_service
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import log_touchpoint, make_contact, make_token, make_user

SOON = datetime.now(UTC) + timedelta(hours=2)
CALENDAR_URL = re.compile(r"http://testserver/calendar/[\w-]+\.ics")


def bearer(session, user):
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def test_the_api_from_creation_to_done(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    headers = bearer(session, rep)
    contact = make_contact(session)
    created = client.post(
        "/api/v1/followups",
        headers=headers,
        json={"title": "Check in", "due_at": SOON.isoformat(), "contact_id": contact.id},
    )
    assert created.status_code == 201, created.text
    followup = created.json()
    assert (followup["assignee_id"], followup["status"]) == (rep.id, "open")
    url = f"/api/v1/followups/{followup['id']}"
    listed = client.get(
        "/api/v1/followups", params={"assignee_id": rep.id, "status": "open"}, headers=headers
    )
    assert [f["id"] for f in listed.json()["items"]] == [followup["id"]]
    patched = client.patch(url, headers=headers, json={"title": "Check in after the delivery"})
    assert patched.json()["title"] == "Check in after the delivery"
    done = client.post(
        f"{url}/complete",
        headers=headers,
        json={"summary": "All fine", "touchpoint": {"channel": "call"}},
    )
    assert done.json()["status"] == "done" and done.json()["touchpoint_id"]
    again = client.post(f"{url}/complete", headers=headers)
    assert again.status_code == 409
    (touchpoint,) = touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0]
    assert touchpoint.summary == "All fine"


def test_bad_input_is_refused(client, session):
    headers = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    contact = make_contact(session)
    for body in (
        {"title": "", "due_at": SOON.isoformat(), "contact_id": contact.id},
        {"title": "No subject", "due_at": SOON.isoformat()},
        {"title": "Naive", "due_at": "2027-01-01T09:00:00", "contact_id": contact.id},
        {
            "title": "Nobody",
            "due_at": SOON.isoformat(),
            "contact_id": contact.id,
            "assignee_id": 999999,
        },
    ):
        assert client.post("/api/v1/followups", headers=headers, json=body).status_code == 422, body
    followup = client.post(
        "/api/v1/followups",
        headers=headers,
        json={"title": "Ok", "due_at": SOON.isoformat(), "contact_id": contact.id},
    ).json()
    past = client.post(
        f"/api/v1/followups/{followup['id']}/snooze",
        headers=headers,
        json={"until": "2020-01-01T00:00:00Z"},
    )
    assert past.status_code == 422
    dpo = bearer(session, make_user(session, roles=(Role.DPO,)))
    assert client.post(f"/api/v1/followups/{followup['id']}/cancel", headers=dpo).status_code == 403
    assert client.get(f"/api/v1/followups/{followup['id']}", headers=dpo).status_code == 200


def test_the_planner_page_and_completing_from_it(client, session):
    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,), name="Mia Manager")
    contact = make_contact(session, first_name="Olga", last_name="Overdue")
    followup_service.create_followup(
        session,
        data=FollowupCreate(
            title="Onboarding check-in",
            due_at=datetime.now(UTC) - timedelta(days=1),
            contact_id=contact.id,
        ),
        actor_id=manager.id,
    )
    session.commit()
    login(client, manager.email)
    page = client.get("/planner")
    assert page.status_code == 200 and "<html" in page.text
    overdue = page.text.split('id="group-overdue"')[1].split('id="group-today"')[0]
    assert "Onboarding check-in" in overdue and "Olga Overdue" in overdue
    (item,) = followup_service.pending_for(session, contact_id=contact.id)
    done = post_form(
        client,
        f"/followups/{item.id}/complete",
        {"summary": "Called, all good", "next": "/planner"},
        form_page="/planner",
    )
    assert done.status_code == 303 and done.headers["location"] == "/planner"
    assert "Onboarding check-in" not in client.get("/planner").text
    assert "Called, all good" in client.get(f"/contacts/{contact.id}").text


def test_the_card_on_a_contact_page_adds_follow_ups(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    contact = make_contact(session)
    login(client, rep.email)
    url = f"/contacts/{contact.id}"
    assert f'hx-get="{url}/followups"' in client.get(url).text
    added = post_form(
        client,
        "/followups",
        {
            "title": "Send the offer",
            "due": "2030-05-04",
            "at": "10:30",
            "contact_id": str(contact.id),
            "next": url,
        },
        form_page=url,
    )
    assert added.status_code == 303 and added.headers["location"] == url
    card = client.get(f"{url}/followups", headers={"HX-Request": "true", "HX-Target": "followups"})
    assert "<html" not in card.text and "Send the offer" in card.text
    bad = post_form(
        client,
        "/followups",
        {"title": "When?", "due": "someday", "contact_id": str(contact.id), "next": url},
        form_page=url,
    )
    assert bad.status_code == 303 and "Nothing was changed" in client.get(url).text


def test_only_managers_see_a_colleagues_planner(client, session):
    colleague = make_user(session, roles=(Role.SALES_REP,), name="Colleague")
    contact = make_contact(session)
    followup_service.create_followup(
        session,
        data=FollowupCreate(
            title="Their task", due_at=SOON, contact_id=contact.id, assignee_id=colleague.id
        ),
        actor_id=None,
    )
    session.commit()
    rep = make_user(session, roles=(Role.SALES_REP,))
    login(client, rep.email)
    assert "Their task" not in client.get(f"/planner?user_id={colleague.id}").text
    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    login(client, manager.email)
    assert "Their task" in client.get(f"/planner?user_id={colleague.id}").text


def test_rules_and_runs_through_the_api(client, session):
    from crm.journeys import service as journey_service
    from crm.journeys.models import EnrollmentCreate

    admin = bearer(session, make_user(session, roles=(Role.ADMIN,)))
    rep = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    journey = journey_service.list_journeys(session)[0]
    retention = next(p for p in journey_service.phases_of(session, journey) if p.key == "retention")
    contact = make_contact(session)
    journey_service.enroll(
        session,
        data=EnrollmentCreate(
            journey_id=journey.id,
            phase_id=retention.id,
            contact_id=contact.id,
            at=datetime.now(UTC) - timedelta(days=20),
        ),
        actor_id=None,
    )
    session.commit()
    body = {
        "name": "Two weeks in",
        "journey_id": journey.id,
        "phase_ids": [retention.id],
        "trigger": "time_in_phase",
        "days": 14,
        "title_template": "Call {name}",
    }
    assert client.post("/api/v1/followup-rules", headers=rep, json=body).status_code == 403
    assert (
        client.post("/api/v1/followup-rules", headers=admin, json={**body, "days": 0}).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/followup-rules", headers=admin, json={**body, "trigger": "moon"}
        ).status_code
        == 422
    )
    assert client.post("/api/v1/followup-rules", headers=admin, json=body).status_code == 201
    early = client.post(
        "/api/v1/followups/run",
        headers=admin,
        json={"as_of": (datetime.now(UTC) - timedelta(days=7)).isoformat()},
    )
    assert early.json()["created"] == 0
    now = client.post("/api/v1/followups/run", headers=admin)
    assert (now.json()["created"], now.json()["error"]) == (1, None)
    assert client.post("/api/v1/followups/run", headers=admin).json()["created"] == 0
    runs = client.get("/api/v1/followups/runs", headers=admin).json()
    assert [r["created"] for r in runs][:3] == [0, 1, 0]
    assert client.post("/api/v1/followups/run", headers=rep).status_code == 403
    (followup,) = followup_service.pending_for(session, contact_id=contact.id)
    assert followup.title.startswith("Call Person")


def test_logging_a_touchpoint_offers_to_complete_the_open_follow_ups(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    contact, stranger = make_contact(session), make_contact(session)
    followup = followup_service.create_followup(
        session,
        data=FollowupCreate(title="Call about the offer", due_at=SOON, contact_id=contact.id),
        actor_id=rep.id,
    )
    session.commit()
    login(client, rep.email)
    logged = post_form(
        client,
        f"/contacts/{contact.id}/touchpoints",
        {"summary": "Talked about the offer", "channel": "call"},
        form_page=f"/contacts/{contact.id}",
    )
    assert logged.status_code == 201
    assert "Done: Call about the offer" in logged.text
    touchpoint = touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0][0]
    assert f'name="touchpoint_id" value="{touchpoint.id}"' in logged.text
    other = log_touchpoint(session, contact_id=stranger.id)
    headers = bearer(session, rep)
    url = f"/api/v1/followups/{followup.id}/complete"
    wrong = client.post(url, headers=headers, json={"touchpoint_id": other.id})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "touchpoint_id")
    both = client.post(url, headers=headers, json={"touchpoint_id": other.id, "summary": "x"})
    assert both.status_code == 422
    done = post_form(
        client,
        f"/followups/{followup.id}/complete",
        {"touchpoint_id": touchpoint.id, "next": f"/contacts/{contact.id}"},
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/contacts/{contact.id}")
    session.refresh(followup)
    assert (followup.status, followup.touchpoint_id) == ("done", touchpoint.id)


def test_the_planner_says_why_a_rule_made_each_follow_up(client, session):
    from crm.followups.models import Followup, FollowupRule
    from crm.journeys import service as journey_service

    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    journey = journey_service.list_journeys(session)[0]
    rule = FollowupRule(
        name="Onboarding",
        journey_id=journey.id,
        trigger="time_in_phase",
        days=14,
        title_template="Onboarding call with {name}",
    )
    session.add(rule)
    session.flush()
    session.add(
        Followup(
            contact_id=make_contact(session).id,
            title="Onboarding call with Ada",
            due_at=SOON,
            assignee_id=manager.id,
            rule_id=rule.id,
            occasion="test",
        )
    )
    session.commit()
    login(client, manager.email)
    page = client.get("/planner")
    assert "Why: Onboarding, 14 days in the phase" in page.text


def test_the_week_page_and_the_calendar_feed(client, session, app):
    from fastapi.testclient import TestClient

    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    contact = make_contact(session, first_name="Wanda", last_name="Week")
    followup_service.create_followup(
        session,
        data=FollowupCreate(title="Weekly call", due_at=SOON, contact_id=contact.id),
        actor_id=manager.id,
    )
    session.commit()
    login(client, manager.email)
    week = client.get(f"/planner/week?start={SOON.date().isoformat()}")
    assert week.status_code == 200 and "Weekly call" in week.text and "<html" in week.text
    assert client.get("/planner/week?start=not-a-date").status_code == 422
    shown = post_form(client, "/planner/calendar-link", form_page="/planner")
    assert shown.status_code == 201
    page_url = CALENDAR_URL.search(shown.text).group(0)
    headers = bearer(session, manager)
    api_url = client.post("/api/v1/followups/calendar-link", headers=headers).json()["url"]
    stranger = TestClient(app)  # no session, no token: the link is the key
    assert stranger.get(page_url.replace("http://testserver", "")).status_code == 404  # replaced
    feed = stranger.get(api_url.replace("http://testserver", ""))
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Weekly call (Wanda Week)" in feed.text
    assert client.delete("/api/v1/followups/calendar-link", headers=headers).status_code == 204
    assert stranger.get(api_url.replace("http://testserver", "")).status_code == 404
    assert client.delete("/api/v1/followups/calendar-link", headers=headers).status_code == 404


def test_a_long_planner_group_shows_a_page_and_links_to_the_next(client, session):
    from crm.followups.models import Followup

    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    contact = make_contact(session)
    past = datetime.now(UTC) - timedelta(days=1)
    for n in range(2 * followup_service.GROUP_PAGE + 2):
        session.add(
            Followup(
                contact_id=contact.id,
                title=f"Task {n:03d}",
                due_at=past + timedelta(minutes=n),
                assignee_id=manager.id,
            )
        )
    session.commit()
    login(client, manager.email)
    page = client.get("/planner")
    last = followup_service.GROUP_PAGE - 1
    assert f"Task {last:03d}" in page.text and f"Task {last + 1:03d}" not in page.text
    link = re.search(r'href="(/planner\?group=overdue&cursor=[^"]+)"', page.text)
    following = client.get(link.group(1))
    assert following.status_code == 200 and "<html" in following.text
    assert f"Task {last + 1:03d}" in following.text and f"Task {last + 2:03d}" in following.text
    assert f"Task {last:03d}" not in following.text and "All groups" in following.text
    assert client.get("/planner?group=someday").status_code == 422


def test_managers_see_how_many_the_last_run_skipped(client, session):
    from crm.followups.models import FollowupRun

    session.add(FollowupRun(job="followups.evaluate_rules", as_of=SOON, created=1, skipped=3))
    manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    rep = make_user(session, roles=(Role.SALES_REP,))
    session.commit()
    login(client, manager.email)
    assert "left 3 subjects alone: no legal basis" in client.get("/planner").text
    login(client, rep.email)
    assert "no legal basis" not in client.get("/planner").text
