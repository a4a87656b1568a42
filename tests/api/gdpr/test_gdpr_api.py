"""Data protection through the JSON API: the register, consents, requests and the
audit trail, with the DPO's rights checked on the server."""

from datetime import UTC, datetime

from crm.users.models import Role
from tests.api.followups.test_followups import bearer
from tests.factories import make_contact, make_user


def people(session):
    return {
        role: bearer(session, make_user(session, roles=(role,)))
        for role in (Role.DPO, Role.ADMIN, Role.SALES_REP, Role.ACCOUNT_MANAGER)
    }


def test_the_register_and_its_texts(client, session):
    who = people(session)
    purposes = client.get("/api/v1/purposes", headers=who[Role.SALES_REP]).json()
    marketing = next(p for p in purposes if p["key"] == "direct_marketing")
    assert (marketing["legal_basis"], marketing["is_marketing"]) == ("a", True)
    url = f"/api/v1/purposes/{marketing['id']}"
    assert client.patch(url, headers=who[Role.SALES_REP], json={"name": "x"}).status_code == 403
    assert client.patch(url, headers=who[Role.ADMIN], json={"name": "x"}).status_code == 403
    patched = client.patch(url, headers=who[Role.DPO], json={"retention_months": 36})
    assert patched.json()["retention_months"] == 36
    text = client.post(
        f"{url}/texts", headers=who[Role.DPO], json={"language": "en", "body": "Version two"}
    )
    assert (text.status_code, text.json()["version"]) == (201, 2)
    bad = client.post(f"{url}/texts", headers=who[Role.DPO], json={"language": "", "body": "x"})
    assert bad.status_code == 422
    created = client.post(
        "/api/v1/purposes",
        headers=who[Role.DPO],
        json={"key": "events", "name": "Event invitations", "legal_basis": "a"},
    )
    assert created.status_code == 201
    again = client.post(
        "/api/v1/purposes",
        headers=who[Role.DPO],
        json={"key": "events", "name": "Again", "legal_basis": "a"},
    )
    assert (again.status_code, again.json()["field"]) == (422, "key")
    wrong_basis = client.post(
        "/api/v1/purposes",
        headers=who[Role.DPO],
        json={"key": "other", "name": "Other", "legal_basis": "z"},
    )
    assert wrong_basis.status_code == 422


def test_consent_through_the_api_and_the_contacts_own_link(client, session, app):
    from fastapi.testclient import TestClient

    who = people(session)
    contact = make_contact(session)
    url = f"/api/v1/contacts/{contact.id}/consents"
    grant = {"purpose": "direct_marketing", "action": "granted", "source": "phone"}
    answer = client.post(url, headers=who[Role.SALES_REP], json=grant)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["action"], answer.json()["text_version"]) == ("granted", 1)
    assert (
        client.post(url, headers=who[Role.DPO], json={**grant, "purpose": "x"}).status_code == 422
    )
    consents = client.get(url, headers=who[Role.ACCOUNT_MANAGER]).json()
    state = next(s for s in consents["states"] if s["purpose"] == "direct_marketing")
    assert state["granted"] is True and state["withdrawal_url"].startswith("http://testserver/")
    visitor = TestClient(app)  # the contact: no login
    link = state["withdrawal_url"].replace("http://testserver", "")
    page = visitor.get(link)
    assert page.status_code == 200 and "Withdraw my consent" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = visitor.post(link, data={"csrf_token": token})
    assert done.status_code == 200 and "is withdrawn" in done.text
    after = client.get(url, headers=who[Role.DPO]).json()
    assert [e["action"] for e in after["log"]] == ["withdrawn", "granted"]
    assert after["log"][0]["source"] == "link"
    assert visitor.get("/consent/withdraw/forged-token").status_code == 404
    withdraw = {**grant, "action": "withdrawn"}
    assert client.post(url, headers=who[Role.SALES_REP], json=withdraw).status_code == 409


def test_requests_are_the_dpos_unless_admins_are_let_in(client, session):
    who = people(session)
    contact = make_contact(session)
    body = {
        "kind": "access",
        "requester_name": "Ann Asker",
        "contact_id": contact.id,
        "received_at": datetime(2026, 1, 31, 10, tzinfo=UTC).isoformat(),
    }
    for role in (Role.ADMIN, Role.SALES_REP, Role.ACCOUNT_MANAGER):
        assert (
            client.post("/api/v1/privacy-requests", headers=who[role], json=body).status_code == 403
        )
        assert client.get("/api/v1/privacy-requests", headers=who[role]).status_code == 403
    created = client.post("/api/v1/privacy-requests", headers=who[Role.DPO], json=body)
    assert created.status_code == 201, created.text
    case = created.json()
    assert (case["due_date"], case["overdue"]) == ("2026-02-28", True)
    url = f"/api/v1/privacy-requests/{case['id']}"
    extended = client.post(
        f"{url}/extend", headers=who[Role.DPO], json={"months": 2, "reason": "Many records"}
    )
    assert extended.json()["due_date"] == "2026-04-30"
    assert (
        client.post(
            f"{url}/extend", headers=who[Role.DPO], json={"months": 1, "reason": "Again"}
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"{url}/extend", headers=who[Role.DPO], json={"months": 3, "reason": "x"}
        ).status_code
        == 422
    )
    refused = client.patch(url, headers=who[Role.DPO], json={"status": "refused"})
    assert (refused.status_code, refused.json()["field"]) == (422, "refusal_ground")
    assert (
        client.put(
            "/api/v1/privacy-settings", headers=who[Role.ADMIN], json={"admins_may_handle": True}
        ).status_code
        == 403
    )
    assert (
        client.put(
            "/api/v1/privacy-settings", headers=who[Role.DPO], json={"admins_may_handle": True}
        ).status_code
        == 200
    )
    listed = client.get("/api/v1/privacy-requests?open=true", headers=who[Role.ADMIN])
    assert [r["id"] for r in listed.json()["items"]] == [case["id"]]
    done = client.patch(
        url, headers=who[Role.ADMIN], json={"status": "done", "outcome": "Sent the export"}
    )
    assert done.json()["status"] == "done" and done.json()["closed_at"]
    trail = client.get(
        f"/api/v1/audit-events?entity_type=privacy_request&entity_id={case['id']}",
        headers=who[Role.DPO],
    ).json()["items"]
    assert [e["action"] for e in trail] == [
        "privacy_request.update",
        "privacy_request.extend",
        "privacy_request.create",
    ]
    assert "Ann" not in str(trail)  # who did what, never the values
    assert client.get("/api/v1/audit-events", headers=who[Role.SALES_REP]).status_code == 403


def test_the_export_through_the_api(client, session):
    import io
    import json
    import zipfile

    who = people(session)
    contact = make_contact(session, first_name="Zipp", last_name="Export")
    created = client.post(
        "/api/v1/privacy-requests",
        headers=who[Role.DPO],
        json={"kind": "portability", "requester_name": "Zipp", "contact_id": contact.id},
    ).json()
    url = f"/api/v1/privacy-requests/{created['id']}/export"
    assert client.post(url, headers=who[Role.SALES_REP]).status_code == 403
    answer = client.post(url, headers=who[Role.DPO])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert json.loads(archive.read("contact.json"))[0]["last_name"] == "Export"
    nobody = client.post(
        "/api/v1/privacy-requests",
        headers=who[Role.DPO],
        json={"kind": "access", "requester_name": "Not a contact"},
    ).json()
    refused = client.post(f"/api/v1/privacy-requests/{nobody['id']}/export", headers=who[Role.DPO])
    assert refused.status_code == 409


def test_erasure_through_the_api(client, session, settings):
    from crm.contacts.models import Contact

    who = people(session)
    contact = make_contact(session, first_name="Erin", last_name="Erase")
    contact_id = contact.id
    created = client.post(
        "/api/v1/privacy-requests",
        headers=who[Role.DPO],
        json={"kind": "erasure", "requester_name": "Erin Erase", "contact_id": contact_id},
    ).json()
    url = f"/api/v1/privacy-requests/{created['id']}"
    assert client.post(f"{url}/erase", headers=who[Role.ADMIN]).status_code == 403
    unverified = client.post(f"{url}/erase", headers=who[Role.DPO])
    assert unverified.status_code == 409 and "identity" in unverified.json()["detail"]
    client.patch(url, headers=who[Role.DPO], json={"identity_verified": True})
    erased = client.post(f"{url}/erase", headers=who[Role.DPO])
    assert erased.status_code == 200, erased.text
    assert erased.json()["contact_id"] == contact_id
    session.expire_all()
    assert session.get(Contact, contact_id) is None
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=who[Role.DPO]).status_code == 404
    again = client.post(f"{url}/erase", headers=who[Role.DPO])
    assert again.status_code == 409
    assert client.get(f"{url}/erasure", headers=who[Role.DPO]).json()["id"] == erased.json()["id"]
    assert client.post(f"{url}/export", headers=who[Role.DPO]).status_code == 409
    request = client.get(url, headers=who[Role.DPO]).json()
    assert (request["status"], request["requester_name"]) == ("done", "(erased)")
    logged = (settings.var_dir / "erasures.jsonl").read_text()
    assert f'"contact_id": {contact_id}' in logged and "Erin" not in logged


def test_restriction_and_objection_through_the_api(client, session):
    who = people(session)
    contact = make_contact(session)
    url = f"/api/v1/contacts/{contact.id}"
    assert (
        client.post(
            f"{url}/restriction", headers=who[Role.SALES_REP], json={"restricted": True}
        ).status_code
        == 403
    )
    flags = client.post(f"{url}/restriction", headers=who[Role.DPO], json={"restricted": True})
    assert flags.json()["restricted_at"] is not None
    edit = client.patch(url, headers=who[Role.SALES_REP], json={"notes": "x"})
    assert edit.status_code == 409 and "restricted" in edit.json()["detail"]
    logged = client.post(
        "/api/v1/touchpoints",
        headers=who[Role.SALES_REP],
        json={"contact_id": contact.id, "summary": "Call"},
    )
    assert logged.status_code == 409
    objected = client.post(f"{url}/objection", headers=who[Role.SALES_REP], json={"objected": True})
    assert objected.json()["objected_at"] is not None
    assert client.get(url, headers=who[Role.SALES_REP]).json()["objected_at"] is not None


def test_retention_through_the_api(client, session):
    from datetime import timedelta

    from crm.core.db import utcnow
    from crm.gdpr import retention

    who = people(session)
    quiet = make_contact(session)
    quiet.created_at = utcnow() - timedelta(days=800)
    session.commit()
    retention.propose(session)
    session.commit()
    assert client.get("/api/v1/retention-proposals", headers=who[Role.ADMIN]).status_code == 403
    listed = client.get("/api/v1/retention-proposals", headers=who[Role.DPO]).json()
    assert [p["contact_id"] for p in listed] == [quiet.id]
    assert (
        client.post(
            "/api/v1/retention-proposals/approve", headers=who[Role.DPO], json={"ids": []}
        ).status_code
        == 422
    )
    erased = client.post(
        "/api/v1/retention-proposals/approve",
        headers=who[Role.DPO],
        json={"ids": [listed[0]["id"]]},
    )
    assert [t["contact_id"] for t in erased.json()] == [quiet.id]
    settings = client.put(
        "/api/v1/privacy-settings",
        headers=who[Role.DPO],
        json={"admins_may_handle": False, "lead_retention_months": 0},
    )
    assert settings.status_code == 422


def test_double_opt_in_by_e_mail(client, session, settings, app, monkeypatch):
    import re

    from fastapi.testclient import TestClient

    from tests.smtp_sink import smtp_sink

    who = people(session)
    contact = make_contact(session, emails=["opt.in@example.com"], language="de")
    url = f"/api/v1/contacts/{contact.id}/consents/double-opt-in"
    monkeypatch.setattr(settings, "smtp_host", "")
    unconfigured = client.post(
        url, headers=who[Role.SALES_REP], json={"purpose": "direct_marketing"}
    )
    assert unconfigured.status_code == 503
    with smtp_sink() as sink:
        monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(settings, "smtp_port", sink.server_address[1])
        sent = client.post(url, headers=who[Role.SALES_REP], json={"purpose": "direct_marketing"})
        assert sent.status_code == 201, sent.text
        assert sent.json()["action"] == "opt_in_sent"
        (message,) = sink.messages
    assert message["To"] == "opt.in@example.com"
    body = message.get_content()
    assert "Ich bin einverstanden" in body  # the German text, for a German contact
    link = re.search(r"http://testserver(/consent/confirm/\S+)", body).group(1)
    consents = f"/api/v1/contacts/{contact.id}/consents"

    def state():
        states = client.get(consents, headers=who[Role.DPO]).json()["states"]
        return next(s for s in states if s["purpose"] == "direct_marketing")

    assert state()["granted"] is False  # not before the click
    visitor = TestClient(app)
    page = visitor.get(link)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert "Yes, I agree" in page.text
    done = visitor.post(link, data={"csrf_token": token})
    assert "is recorded" in done.text
    assert state()["granted"] is True
    log = client.get(consents, headers=who[Role.DPO]).json()["log"]
    assert [e["action"] for e in log][:3] == ["granted", "opt_in_confirmed", "opt_in_sent"]
    assert log[0]["ip"] == "testclient"
    visitor.post(link, data={"csrf_token": token})  # a second click records nothing more
    assert len(client.get(consents, headers=who[Role.DPO]).json()["log"]) == len(log)
    assert visitor.get(link[:-3] + "xyz").status_code == 404
