"""Touchpoints through the JSON API and through the contact and company pages."""

import re

import pytest

from crm.touchpoints import service as touchpoint_service
from crm.users.models import Role
from tests.conftest import csrf_token, login, post_form
from tests.factories import log_touchpoint, make_company, make_contact, make_token, make_user


def bearer(session, role: Role = Role.SALES_REP) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, roles=(role,)))}"}


class TestApi:
    def test_log_read_update_delete(self, client, session):
        headers = bearer(session)
        contact = make_contact(session)
        created = client.post(
            "/api/v1/touchpoints",
            headers=headers,
            json={
                "contact_id": contact.id,
                "summary": "Demo booked",
                "channel": "video_call",
                "outcome": "positive",
                "sentiment": 2,
                "occurred_at": "2026-05-04T09:30:00+02:00",
                "duration_minutes": 25,
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["occurred_at"].startswith("2026-05-04T07:30:00")
        assert (body["channel"], body["outcome"], body["direction"]) == (
            "video_call",
            "positive",
            "outbound",
        )
        url = f"/api/v1/touchpoints/{body['id']}"
        assert client.get(url, headers=headers).json() == body
        patched = client.patch(url, headers=headers, json={"outcome": None, "nps": 9})
        assert patched.json()["outcome"] is None and patched.json()["nps"] == 9
        assert client.delete(url, headers=headers).status_code == 204
        assert client.get(url, headers=headers).status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            {"summary": "no subject"},
            {"contact_id": 999999, "summary": "x"},
            {"summary": "", "contact_id": 1},
            {"summary": "x", "contact_id": 1, "channel": "telepathy"},
            {"summary": "x", "contact_id": 1, "sentiment": 5},
            {"summary": "x", "contact_id": 1, "occurred_at": "2026-05-04T09:30:00"},
            {"summary": "x", "contact_id": 1, "occurred_at": "2999-01-01T00:00:00Z"},
        ],
    )
    def test_bad_input_is_refused_and_nothing_is_logged(self, client, session, body):
        contact = make_contact(session)
        body = {**body, **({"contact_id": contact.id} if body.get("contact_id") == 1 else {})}
        response = client.post("/api/v1/touchpoints", headers=bearer(session), json=body)
        assert response.status_code in (404, 422), response.text
        assert touchpoint_service.list_touchpoints(session)[0] == []

    def test_timelines_and_filters(self, client, session):
        headers = bearer(session, Role.DPO)
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        first = log_touchpoint(
            session, contact_id=contact.id, channel="email", occurred_at="2026-01-01T10:00:00Z"
        )
        second = log_touchpoint(session, contact_id=contact.id, channel="call")
        timeline = client.get(
            f"/api/v1/contacts/{contact.id}/timeline", headers=headers, params={"limit": 1}
        ).json()
        assert [t["id"] for t in timeline["items"]] == [second.id]
        rest = client.get(
            f"/api/v1/contacts/{contact.id}/timeline",
            headers=headers,
            params={"cursor": timeline["next_cursor"]},
        ).json()
        assert [t["id"] for t in rest["items"]] == [first.id] and rest["next_cursor"] is None
        company_timeline = client.get(
            f"/api/v1/companies/{company.id}/timeline", headers=headers
        ).json()
        assert len(company_timeline["items"]) == 2
        emails = client.get(
            "/api/v1/touchpoints",
            headers=headers,
            params={"channel": "email", "since": "2025-12-31T00:00:00Z"},
        ).json()
        assert [t["id"] for t in emails["items"]] == [first.id]

    def test_a_dpo_reads_but_does_not_log(self, client, session):
        headers = bearer(session, Role.DPO)
        contact = make_contact(session)
        response = client.post(
            "/api/v1/touchpoints", headers=headers, json={"contact_id": contact.id, "summary": "x"}
        )
        assert response.status_code == 403

    def test_admins_edit_the_lists(self, client, session):
        admin = bearer(session, Role.ADMIN)
        created = client.post(
            "/api/v1/lists/channels",
            headers=admin,
            json={"key": "fax", "name": "Fax", "position": 200},
        )
        assert created.status_code == 201
        entry_id = created.json()["id"]
        retired = client.patch(
            f"/api/v1/lists/channels/{entry_id}", headers=admin, json={"is_active": False}
        )
        assert retired.json()["is_active"] is False
        keys = [c["key"] for c in client.get("/api/v1/lists/channels", headers=admin).json()]
        assert "fax" in keys and keys[0] == "call"
        rep = bearer(session)
        assert (
            client.post(
                "/api/v1/lists/outcomes", headers=rep, json={"key": "x", "name": "X"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/api/v1/lists/channels", headers=admin, json={"key": "Bad Key", "name": "X"}
            ).status_code
            == 422
        )
        assert client.get("/api/v1/lists/colours", headers=admin).status_code == 422


@pytest.fixture
def rep_client(client, session):
    login(client, make_user(session, roles=(Role.SALES_REP,)).email)
    return client


class TestQuickLog:
    def test_the_contact_page_offers_the_quick_log_with_call_preselected(self, rep_client, session):
        contact = make_contact(session)
        page = rep_client.get(f"/contacts/{contact.id}").text
        assert 'id="quick-log"' in page and 'hx-target="#timeline"' in page
        assert '<option value="call" selected>' in page
        assert "Nothing logged yet." in page

    def test_logging_returns_the_new_item_and_a_fresh_form(self, rep_client, session):
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        token = csrf_token(rep_client, f"/contacts/{contact.id}")
        response = rep_client.post(
            f"/contacts/{contact.id}/touchpoints",
            data={
                "summary": "Called back about the offer",
                "channel": "call",
                "sentiment": "1",
                "outcome": "reached",
            },
            headers={"HX-Request": "true", "HX-Target": "timeline", "X-CSRF-Token": token},
        )
        assert response.status_code == 201
        assert "<html" not in response.text
        assert "Called back about the offer" in response.text and "Reached" in response.text
        assert 'hx-swap-oob="true"' in response.text
        fresh_form = response.text[response.text.index('id="quick-log"') :]
        assert "Called back" not in fresh_form
        assert "Called back about the offer" in rep_client.get(f"/companies/{company.id}").text

    def test_a_missing_summary_re_renders_the_form_in_place(self, rep_client, session):
        contact = make_contact(session)
        token = csrf_token(rep_client, f"/contacts/{contact.id}")
        response = rep_client.post(
            f"/contacts/{contact.id}/touchpoints",
            data={"summary": " ", "channel": "meeting", "notes": "kept"},
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
        assert response.status_code == 422
        assert response.headers["HX-Retarget"] == "#quick-log"
        assert "This field is required." in response.text
        assert '<option value="meeting" selected>' in response.text and "kept" in response.text
        assert touchpoint_service.list_touchpoints(session)[0] == []

    def test_a_time_in_the_past_is_read_in_the_users_zone(self, rep_client, session):
        contact = make_contact(session)
        post_form(rep_client, "/profile/preferences", {"time_zone": "Europe/Berlin"})
        response = post_form(
            rep_client,
            f"/contacts/{contact.id}/touchpoints",
            {"summary": "Fair talk", "channel": "trade_fair", "occurred_at": "2026-03-10T14:15"},
            form_page="/profile",
        )
        assert response.status_code == 201
        touchpoint = touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0][0]
        assert touchpoint.occurred_at.isoformat() == "2026-03-10T13:15:00+00:00"

    def test_the_timeline_loads_older_items_as_a_fragment(self, rep_client, session):
        contact = make_contact(session)
        for number in range(30):
            log_touchpoint(session, contact_id=contact.id, summary=f"touch {number:02d}")
        page = rep_client.get(f"/contacts/{contact.id}").text
        assert "touch 29" in page and "touch 04" not in page
        more_url = re.search(r'id="timeline-more"[^>]*hx-get="([^"]+)"', page).group(1)
        more = rep_client.get(
            more_url, headers={"HX-Request": "true", "HX-Target": "timeline-more"}
        )
        assert "<html" not in more.text and "touch 04" in more.text and "touch 29" not in more.text
        assert rep_client.get(more_url).text.startswith("<!doctype html>")

    def test_deleting_from_the_timeline(self, rep_client, session):
        contact = make_contact(session)
        touchpoint = log_touchpoint(session, contact_id=contact.id)
        token = csrf_token(rep_client, f"/contacts/{contact.id}")
        response = rep_client.post(
            f"/touchpoints/{touchpoint.id}/delete",
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
        assert response.status_code == 200 and response.text == ""
        assert touchpoint_service.list_touchpoints(session, contact_id=contact.id)[0] == []

    def test_a_dpo_sees_the_timeline_without_the_quick_log(self, client, session):
        contact = make_contact(session)
        log_touchpoint(session, contact_id=contact.id, summary="Visible to the DPO")
        login(client, make_user(session, roles=(Role.DPO,)).email)
        page = client.get(f"/contacts/{contact.id}").text
        assert "Visible to the DPO" in page and 'id="quick-log"' not in page
        response = post_form(client, f"/contacts/{contact.id}/touchpoints", {"summary": "x"})
        assert response.status_code == 403


def test_the_admin_lists_page(client, session):
    login(client, make_user(session, roles=(Role.ADMIN,)).email)
    page = client.get("/admin/lists")
    assert page.status_code == 200 and "Trade fair" in page.text
    response = post_form(
        client, "/admin/lists/outcomes", {"key": "sent_offer", "name": "Offer sent"}
    )
    assert response.status_code == 303
    assert "Offer sent" in client.get("/admin/lists").text
    duplicate = post_form(client, "/admin/lists/outcomes", {"key": "sent_offer", "name": "X"})
    assert duplicate.status_code == 303
    assert "already exists" in client.get("/admin/lists").text
