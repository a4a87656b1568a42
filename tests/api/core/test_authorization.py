"""The authorisation matrix: every route the app serves, each role, and nobody.

The rule of each route is read off its dependencies (``require_role``, the privacy
officer's check, or only a signed-in user) and must match the table below, so a new
route fails here until somebody writes down who may use it. Then every route is called
by every role and by an anonymous visitor, against real records, each call in a
savepoint rolled back afterwards: a role outside the rule gets 403 and changes nothing,
an anonymous visitor is asked to log in, and a role inside the rule is let through.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from crm.gdpr.deps import privacy_officer
from crm.main import ROUTERS
from crm.users.deps import get_current_user
from crm.users.models import Role
from tests.conftest import csrf_token, login
from tests.factories import make_token, make_user

PUBLIC, SIGNED_IN, OFFICER = "public", "signed in", "privacy officer"
EDITORS = frozenset({Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})
DPO = frozenset({Role.DPO})
AUDIT = frozenset({Role.ADMIN, Role.DPO})
CONSENT = frozenset(Role)

RULES: dict[object, str] = {
    PUBLIC: """
        GET /docs  GET /healthz  GET /login  POST /login  GET /calendar/{token}.ics
        GET /consent/confirm/{token}  POST /consent/confirm/{token}
        GET /consent/withdraw/{token}  POST /consent/withdraw/{token}
        POST /api/v1/unsubscribe/{token}
    """,
    SIGNED_IN: """
        GET /  GET /api/v1/home  GET /search  GET /search/pick  GET /api/v1/search  GET /help
        GET /help/guide/{language}
        POST /logout  GET /profile  POST /profile/preferences  POST /profile/password
        POST /profile/tokens  POST /profile/tokens/{token_id}/revoke
        GET /api/v1/me  PATCH /api/v1/me  POST /api/v1/me/password  GET /api/v1/me/tokens
        POST /api/v1/me/tokens  DELETE /api/v1/me/tokens/{token_id}
        GET /contacts  GET /contacts/{contact_id}  GET /contacts/{contact_id}/vcard
        GET /companies  GET /companies/{company_id}  GET /api/v1/companies
        GET /api/v1/companies/{company_id}  GET /api/v1/contacts
        GET /api/v1/contacts/{contact_id}/vcard  GET /api/v1/contacts/{contact_id}
        GET /api/v1/touchpoints  GET /api/v1/touchpoints/{touchpoint_id}
        GET /api/v1/contacts/{contact_id}/timeline  GET /api/v1/companies/{company_id}/timeline
        GET /api/v1/lists/{kind}  GET /api/v1/imports  GET /api/v1/imports/{import_id}
        GET /api/v1/imports/{import_id}/problems.csv
        GET /journeys  GET /journeys/{journey_id}
        GET /journeys/{journey_id}/phases/{phase_id}/cards  GET /journeys/{journey_id}/analytics
        GET /journeys/{journey_id}/map  GET /journeys/{journey_id}/map.csv
        GET /journeys/{journey_id}/analytics.csv  GET /contacts/{contact_id}/journeys
        GET /companies/{company_id}/journeys  GET /api/v1/journeys
        GET /api/v1/journeys/{journey_id}  GET /api/v1/enrollments/{enrollment_id}
        GET /api/v1/enrollments/{enrollment_id}/transitions
        GET /api/v1/contacts/{contact_id}/enrollments
        GET /api/v1/companies/{company_id}/enrollments
        GET /api/v1/journeys/{journey_id}/board
        GET /api/v1/journeys/{journey_id}/phases/{phase_id}/cards
        GET /api/v1/journeys/{journey_id}/analytics  GET /api/v1/journeys/{journey_id}/map
        GET /deals  GET /deals/figures  GET /pipelines/{pipeline_id}
        GET /pipelines/{pipeline_id}/stages/{stage_id}/cards  GET /deals/{deal_id}
        GET /companies/{company_id}/deals  GET /contacts/{contact_id}/deals
        GET /api/v1/pipelines  GET /api/v1/pipelines/{pipeline_id}  GET /api/v1/deals
        GET /api/v1/deals/forecast  GET /api/v1/deals/performance  GET /api/v1/deals/abc
        GET /api/v1/companies/{company_id}/lifetime-value
        GET /api/v1/contacts/{contact_id}/lifetime-value  GET /api/v1/deals/{deal_id}
        GET /planner  GET /planner/week  POST /planner/calendar-link
        POST /planner/calendar-link/revoke  GET /contacts/{contact_id}/followups
        GET /companies/{company_id}/followups  GET /api/v1/followup-rules
        GET /api/v1/followup-rules/{rule_id}  POST /api/v1/followups/calendar-link
        DELETE /api/v1/followups/calendar-link  GET /api/v1/followups
        GET /api/v1/followups/{followup_id}
        GET /contacts/{contact_id}/consents  GET /privacy/register  GET /api/v1/purposes
        GET /api/v1/purposes/{purpose_id}  GET /api/v1/purposes/{purpose_id}/texts
        GET /api/v1/contacts/{contact_id}/consents
        GET /api/v1/touchpoints/{touchpoint_id}/mail  GET /api/v1/emails
        GET /api/v1/emails/{outgoing_id}  GET /api/v1/mail-templates
        GET /api/v1/mail-templates/{template_id}
        GET /touchpoints/{touchpoint_id}/attachments/{attachment_id}
        GET /api/v1/touchpoints/{touchpoint_id}/attachments/{attachment_id}
    """,
    ADMIN: """
        POST /home/checklist/dismiss  POST /api/v1/home/checklist/dismiss
        GET /metrics  GET /users  GET /users/new  POST /users  GET /users/{user_id}
        POST /users/{user_id}  POST /users/{user_id}/password  GET /api/v1/users
        POST /api/v1/users  GET /api/v1/users/{user_id}  PATCH /api/v1/users/{user_id}
        POST /api/v1/users/{user_id}/password
        GET /admin/lists  POST /admin/lists/{kind}  POST /admin/lists/{kind}/{entry_id}
        POST /api/v1/lists/{kind}  PATCH /api/v1/lists/{kind}/{entry_id}
        POST /journeys  GET /journeys/{journey_id}/settings  POST /journeys/{journey_id}
        POST /journeys/{journey_id}/phases  POST /phases/{phase_id}
        POST /phases/{phase_id}/shift  POST /phases/{phase_id}/archive  POST /api/v1/journeys
        PATCH /api/v1/journeys/{journey_id}  DELETE /api/v1/journeys/{journey_id}
        POST /api/v1/journeys/{journey_id}/phases  PUT /api/v1/journeys/{journey_id}/phases/order
        PATCH /api/v1/phases/{phase_id}  POST /api/v1/phases/{phase_id}/archive
        GET /pipelines  POST /pipelines  GET /pipelines/{pipeline_id}/settings
        POST /pipelines/{pipeline_id}/settings  POST /pipelines/{pipeline_id}/stages
        POST /stages/{stage_id}  POST /stages/{stage_id}/shift  POST /api/v1/pipelines
        PATCH /api/v1/pipelines/{pipeline_id}  DELETE /api/v1/pipelines/{pipeline_id}
        POST /api/v1/pipelines/{pipeline_id}/stages
        PUT /api/v1/pipelines/{pipeline_id}/stages/order  PATCH /api/v1/stages/{stage_id}
        GET /followups/rules  GET /followups/rules/new  POST /followups/rules
        GET /followups/rules/{rule_id}  POST /followups/rules/{rule_id}
        POST /followups/rules/{rule_id}/delete  POST /followups/run
        POST /api/v1/followup-rules  PATCH /api/v1/followup-rules/{rule_id}
        DELETE /api/v1/followup-rules/{rule_id}  POST /api/v1/followups/run
        GET /api/v1/followups/runs
        GET /mailboxes  GET /mailboxes/new  POST /mailboxes  GET /mailboxes/{mailbox_id}
        POST /mailboxes/{mailbox_id}  POST /mailboxes/{mailbox_id}/read
        POST /mailboxes/{mailbox_id}/delete  GET /api/v1/mailboxes  POST /api/v1/mailboxes
        GET /api/v1/mailboxes/{mailbox_id}  PATCH /api/v1/mailboxes/{mailbox_id}
        DELETE /api/v1/mailboxes/{mailbox_id}  POST /api/v1/mailboxes/{mailbox_id}/read
        GET /mail-templates  GET /mail-templates/new  POST /mail-templates
        POST /mail-templates/preview  GET /mail-templates/{template_id}
        POST /mail-templates/{template_id}  POST /mail-templates/{template_id}/preview
        POST /mail-templates/{template_id}/delete  POST /api/v1/mail-templates
        PATCH /api/v1/mail-templates/{template_id}  DELETE /api/v1/mail-templates/{template_id}
    """,
    EDITORS: """
        GET /contacts/export.csv  GET /contacts/export.vcf  POST /contacts/bulk
        GET /contacts/new  POST /contacts  GET /contacts/{contact_id}/edit
        POST /contacts/{contact_id}  GET /contacts/{contact_id}/merge
        POST /contacts/{contact_id}/merge  POST /contacts/{contact_id}/delete
        GET /companies/new  POST /companies  GET /companies/{company_id}/edit
        POST /companies/{company_id}  POST /companies/{company_id}/delete
        POST /api/v1/companies  PATCH /api/v1/companies/{company_id}
        POST /api/v1/companies/{company_id}/merge  DELETE /api/v1/companies/{company_id}
        GET /api/v1/contacts/export.csv  GET /api/v1/contacts/export.vcf
        POST /api/v1/contacts/bulk  POST /api/v1/contacts  PATCH /api/v1/contacts/{contact_id}
        POST /api/v1/contacts/{contact_id}/merge  DELETE /api/v1/contacts/{contact_id}
        POST /contacts/{contact_id}/touchpoints  POST /companies/{company_id}/touchpoints
        POST /touchpoints/{touchpoint_id}/delete  POST /api/v1/touchpoints
        PATCH /api/v1/touchpoints/{touchpoint_id}  DELETE /api/v1/touchpoints/{touchpoint_id}
        GET /imports  POST /imports  GET /imports/{import_id}
        POST /imports/{import_id}/preview  POST /imports/{import_id}/start
        GET /imports/{import_id}/problems.csv  POST /imports/{import_id}/delete
        POST /api/v1/{kind}/import  POST /api/v1/imports/{import_id}/preview
        POST /api/v1/imports/{import_id}/start  DELETE /api/v1/imports/{import_id}
        POST /enrollments/{enrollment_id}/move  POST /contacts/{contact_id}/enrollments
        POST /companies/{company_id}/enrollments  POST /api/v1/enrollments
        POST /api/v1/enrollments/{enrollment_id}/move
        POST /deals  POST /deals/{deal_id}  POST /deals/{deal_id}/move
        POST /deals/{deal_id}/contacts  POST /deals/{deal_id}/contacts/{contact_id}/remove
        POST /deals/{deal_id}/reopen  POST /api/v1/deals  PATCH /api/v1/deals/{deal_id}
        DELETE /api/v1/deals/{deal_id}  POST /api/v1/deals/{deal_id}/move
        POST /api/v1/deals/{deal_id}/won  POST /api/v1/deals/{deal_id}/lost
        POST /api/v1/deals/{deal_id}/reopen
        POST /followups  POST /followups/{followup_id}/complete
        POST /followups/{followup_id}/snooze  POST /followups/{followup_id}/reassign
        POST /followups/{followup_id}/cancel  POST /api/v1/followups
        PATCH /api/v1/followups/{followup_id}  DELETE /api/v1/followups/{followup_id}
        POST /api/v1/followups/{followup_id}/complete
        POST /api/v1/followups/{followup_id}/snooze  POST /api/v1/followups/{followup_id}/cancel
        GET /mail/triage  POST /mail/triage/{entry_id}/contact  POST /mail/triage/{entry_id}/link
        POST /mail/triage/{entry_id}/ignore  GET /api/v1/mail-triage
        POST /api/v1/mail-triage/{entry_id}/contact  POST /api/v1/mail-triage/{entry_id}/link
        POST /api/v1/mail-triage/{entry_id}/ignore  POST /api/v1/emails
        POST /api/v1/emails/{outgoing_id}/retry  POST /contacts/{contact_id}/emails
        POST /emails/{outgoing_id}/retry  GET /contacts/{contact_id}/compose
        GET /companies/{company_id}/compose  POST /companies/{company_id}/emails
        POST /api/v1/mail-templates/{template_id}/preview  GET /profile/mailbox
        POST /profile/mailbox  POST /profile/mailbox/read  POST /profile/mailbox/delete
        GET /api/v1/me/mailbox  PUT /api/v1/me/mailbox  DELETE /api/v1/me/mailbox
        POST /api/v1/me/mailbox/read
    """,
    OFFICER: """
        GET /privacy  GET /privacy/requests/new  POST /privacy/requests
        GET /privacy/requests/{request_id}  POST /privacy/requests/{request_id}
        POST /privacy/requests/{request_id}/extend  POST /privacy/requests/{request_id}/export
        POST /privacy/requests/{request_id}/erase  GET /privacy/retention  POST /privacy/retention
        POST /privacy/mentions/{mention_id}/redacted  GET /privacy/requests/{request_id}/export
        POST /contacts/{contact_id}/restriction  POST /privacy/purposes
        POST /privacy/purposes/{purpose_id}  POST /privacy/purposes/{purpose_id}/texts
        POST /api/v1/purposes  PATCH /api/v1/purposes/{purpose_id}
        POST /api/v1/purposes/{purpose_id}/texts  POST /api/v1/contacts/{contact_id}/restriction
        GET /api/v1/privacy-requests  POST /api/v1/privacy-requests
        GET /api/v1/privacy-requests/{request_id}  PATCH /api/v1/privacy-requests/{request_id}
        POST /api/v1/privacy-requests/{request_id}/extend
        POST /api/v1/privacy-requests/{request_id}/export
        POST /api/v1/privacy-requests/{request_id}/erase
        GET /api/v1/privacy-requests/{request_id}/erasure
        POST /api/v1/erasure-mentions/{mention_id}/redacted  GET /api/v1/privacy-settings
        GET /api/v1/retention-proposals  POST /api/v1/retention-proposals/approve
        POST /api/v1/retention-proposals/dismiss
    """,
    DPO: "POST /privacy/settings  PUT /api/v1/privacy-settings",
    CONSENT: """
        POST /contacts/{contact_id}/consents  POST /contacts/{contact_id}/objection
        POST /contacts/{contact_id}/consents/double-opt-in
        POST /api/v1/contacts/{contact_id}/consents  POST /api/v1/contacts/{contact_id}/objection
        POST /api/v1/contacts/{contact_id}/consents/double-opt-in
    """,
    AUDIT: "GET /api/v1/audit-events",
}


def expected_rules() -> dict[str, object]:
    table = {}
    for rule, routes in RULES.items():
        words = routes.split()
        for method, path in zip(words[::2], words[1::2], strict=True):
            assert f"{method} {path}" not in table, f"{method} {path} is listed twice"
            table[f"{method} {path}"] = rule
    return table


def declared_rule(route: APIRoute) -> object:
    """Who the route's dependencies let in."""
    calls, pending = [], [route.dependant]
    while pending:
        dependant = pending.pop()
        calls.append(dependant.call)
        pending.extend(dependant.dependencies)
    roles = [call.roles for call in calls if hasattr(call, "roles")]
    if roles:
        assert len(set(roles)) == 1, f"{route.path} asks for two different sets of roles"
        return roles[0]
    if privacy_officer in calls:
        return OFFICER
    return SIGNED_IN if get_current_user in calls else PUBLIC


def served_routes() -> Iterator[tuple[str, str, APIRoute]]:
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path, route


def test_every_route_has_a_written_rule_and_keeps_it():
    served = {f"{method} {path}": declared_rule(route) for method, path, route in served_routes()}
    expected = expected_rules()
    assert sorted(set(served) - set(expected)) == [], "routes without a rule in RULES"
    assert sorted(set(expected) - set(served)) == [], "rules for routes that are gone"
    changed = {route: rule for route, rule in served.items() if expected[route] != rule}
    assert changed == {}, "routes whose dependencies let in others than RULES says"


def allowed(rule: object, role: Role) -> bool:
    if rule is PUBLIC or rule is SIGNED_IN:
        return True
    if rule is OFFICER:  # administrators only when the DPO allows it, which is off here
        return role is Role.DPO
    assert isinstance(rule, frozenset)
    return role in rule


class Actor:
    """A user of one role, signed in on the pages and holding an API token."""

    def __init__(self, app, session, role: Role | None) -> None:
        self.role = role
        self.client = TestClient(app, follow_redirects=False)
        self.headers: dict[str, str] = {}
        if role is None:
            self.csrf = csrf_token(self.client)
            return
        self.user = make_user(session, roles=(role,))
        self.token = make_token(session, self.user)
        self.sign_in()

    def sign_in(self) -> None:
        login(self.client, self.user.email)
        self.csrf = csrf_token(self.client, "/profile")

    def call(self, method: str, path: str):
        if path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token}"} if self.role else {}
        else:
            headers = {"X-CSRF-Token": self.csrf}
        return self.client.request(method, path, headers=headers)


@pytest.fixture
def world(client, session) -> dict[str, object]:
    """One record of each kind a path names, made through the API by an administrator."""
    admin = make_user(session, roles=(Role.ADMIN,))
    dpo = make_user(session, roles=(Role.DPO,))
    rep = make_user(session, roles=(Role.SALES_REP,))
    bearer = {"Authorization": f"Bearer {make_token(session, admin)}"}
    rep_bearer = {"Authorization": f"Bearer {make_token(session, rep)}"}

    def made(method: str, path: str, body: dict | None = None, headers=bearer) -> dict:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code < 300, (path, response.text)
        return response.json()

    company = made("POST", "/api/v1/companies", {"name": "Matrix GmbH"})
    contact = made(
        "POST",
        "/api/v1/contacts",
        {"first_name": "Mara", "last_name": "Trix", "emails": ["mara@example.com"]},
    )
    journey = made("GET", "/api/v1/journeys")[0]
    phase = made("GET", f"/api/v1/journeys/{journey['id']}")["phases"][0]
    enrollment = made(
        "POST",
        "/api/v1/enrollments",
        {"journey_id": journey["id"], "phase_id": phase["id"], "contact_id": contact["id"]},
    )
    deal = made("POST", "/api/v1/deals", {"title": "Matrix deal", "company_id": company["id"]})
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    followup = made(
        "POST",
        "/api/v1/followups",
        {"title": "Call back", "due_at": due, "contact_id": contact["id"]},
    )
    touchpoint = made(
        "POST", "/api/v1/touchpoints", {"summary": "Met", "contact_id": contact["id"]}
    )
    request = made(
        "POST",
        "/api/v1/privacy-requests",
        {"kind": "access", "requester_name": "Mara Trix", "contact_id": contact["id"]},
        headers={"Authorization": f"Bearer {make_token(session, dpo)}"},
    )
    upload = client.post(
        "/api/v1/contacts/import",
        files={"file": ("people.csv", b"first_name;last_name\r\nIma;Port\r\n")},
        headers=rep_bearer,
    )
    assert upload.status_code < 300, upload.text
    channel = made("GET", "/api/v1/lists/channels")[0]
    rule = made(
        "POST",
        "/api/v1/followup-rules",
        {
            "name": "Quiet",
            "journey_id": journey["id"],
            "trigger": "quiet",
            "days": 30,
            "title_template": "Call {name}",
        },
    )
    # On a port nobody listens on: reading it fails at once, and says so.
    mailbox = made(
        "POST",
        "/api/v1/mailboxes",
        {
            "name": "Nowhere",
            "address": "nowhere@crm.test",
            "host": "127.0.0.1",
            "port": 1,
            "username": "nowhere",
            "password": "none",
        },
    )
    template = made(
        "POST", "/api/v1/mail-templates", {"name": "Hello", "subject_en": "Hi", "body_en": "Hi"}
    )
    return {
        "contact_id": contact["id"],
        "company_id": company["id"],
        "mailbox_id": mailbox["id"],
        "template_id": template["id"],
        "outgoing_id": 1,  # none was sent: these answer 404 to whoever may ask
        "attachment_id": 1,
        "journey_id": journey["id"],
        "phase_id": phase["id"],
        "enrollment_id": enrollment["id"],
        "pipeline_id": deal["pipeline_id"],
        "stage_id": deal["stage_id"],
        "deal_id": deal["id"],
        "followup_id": followup["id"],
        "rule_id": rule["id"],
        "touchpoint_id": touchpoint["id"],
        "request_id": request["id"],
        "purpose_id": made("GET", "/api/v1/purposes")[0]["id"],
        "import_id": upload.json()["id"],
        "user_id": rep.id,
        "token_id": made("GET", "/api/v1/me/tokens", headers=rep_bearer)[0]["id"],
        "kind": "channels",
        "entry_id": channel["id"],
        "mention_id": 1,  # no erasure has named anybody: these answer 404 to whoever may ask
        "token": "not-a-real-token",
        "language": "de",
    }


def concrete(path: str, world: dict[str, object]) -> str:
    if path == "/api/v1/{kind}/import":
        return "/api/v1/contacts/import"
    return path.format(**world)


def test_every_role_gets_exactly_what_its_rule_allows(app, session, connection: Connection, world):
    actors = [Actor(app, session, None)] + [Actor(app, session, role) for role in Role]
    expected = expected_rules()
    wrong: list[str] = []
    for method, template, _ in served_routes():
        rule = expected[f"{method} {template}"]
        path = concrete(template, world)
        # Those refused go first: they must leave every record as it was for the others.
        for actor in sorted(actors, key=lambda a: a.role is not None and allowed(rule, a.role)):
            attempt = connection.begin_nested()
            try:
                status = actor.call(method, path).status_code
            finally:
                attempt.rollback()
            if actor.role is None:
                refused = rule is not PUBLIC
                answered = (401 if path.startswith("/api/") else 303) if refused else status
            else:
                refused = not allowed(rule, actor.role)
                answered = 403 if refused else status
            # A public route may refuse on its own terms (a failed login is 401).
            let_through = status < 500 if rule is PUBLIC else status not in (401, 403, 500)
            if status != answered or (not refused and not let_through):
                wrong.append(f"{method} {path} as {actor.role or 'nobody'}: {status}")
            if method == "POST" and template == "/logout" and actor.role is not None:
                actor.sign_in()
    assert wrong == [], "\n".join(wrong)


def test_records_that_are_a_users_own_stay_theirs(client, session):
    """Where a record belongs to one user (an import, an API token), another user of the
    same role finds nothing there: 404, as for a record that does not exist."""
    owner, stranger = make_user(session), make_user(session)
    admin = make_user(session, roles=(Role.ADMIN,))
    mine = {"Authorization": f"Bearer {make_token(session, owner)}"}
    theirs = {"Authorization": f"Bearer {make_token(session, stranger)}"}
    upload = client.post(
        "/api/v1/contacts/import",
        files={"file": ("people.csv", b"first_name;last_name\r\nIma;Port\r\n")},
        headers=mine,
    )
    job = upload.json()["id"]
    token_id = client.get("/api/v1/me/tokens", headers=mine).json()[0]["id"]
    for method, path in (
        ("GET", f"/api/v1/imports/{job}"),
        ("GET", f"/api/v1/imports/{job}/problems.csv"),
        ("DELETE", f"/api/v1/imports/{job}"),
        ("DELETE", f"/api/v1/me/tokens/{token_id}"),
    ):
        assert client.request(method, path, headers=theirs).status_code == 404, path
    assert client.get("/api/v1/imports", headers=theirs).json() == []
    admin_bearer = {"Authorization": f"Bearer {make_token(session, admin)}"}
    assert client.get(f"/api/v1/imports/{job}", headers=admin_bearer).status_code == 200
    login(client, stranger.email)
    assert client.get(f"/imports/{job}").status_code == 404
    revoke = client.post(
        f"/profile/tokens/{token_id}/revoke",
        headers={"X-CSRF-Token": csrf_token(client, "/profile")},
    )
    assert revoke.status_code == 404
    assert client.get("/api/v1/me", headers=mine).status_code == 200  # the token still works
