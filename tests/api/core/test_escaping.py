"""Stored cross-site scripting: markup in every text field, shown on every page.

Every text field of every record the API creates (read off the OpenAPI document, so a
new field is covered without touching this test) holds a numbered tag. Then every page
the app serves is loaded: no tag may come back as markup, and each tag must be seen
escaped somewhere, so that the sweep proves the field was shown and not merely missed.
The tag ends in a percent sign, which fails a page that takes stored text for a format
string (a journey named "Upsell 100%").
The exports (CSV, vCard, iCalendar) and the e-mails get the same values.
"""

import re
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from itertools import count
from typing import Any

import pytest
from fastapi.routing import APIRoute

from crm.main import ROUTERS
from crm.users.models import Role
from tests import mailboxes, mailservers
from tests.conftest import login
from tests.factories import make_token, make_user
from tests.smtp_sink import smtp_sink

RAW = re.compile(r"<x(\d+)>")
ESCAPED = re.compile(r"&lt;x(\d+)&gt;")
# Text that is not shown to people as such: secrets, keys, and what only selects a value.
NOT_SHOWN = {
    "password",
    "key",
    "currency",
    "language",
    "time_zone",
    "color",
    "token",
    "exit_reason",
}


def fields_named(answer: dict[str, Any]) -> set[str]:
    """The fields a 422 answer names: FastAPI's list of errors, or the CRM's one field."""
    if "field" in answer:
        return {answer["field"]}
    return {error["loc"][1] for error in answer["detail"] if len(error["loc"]) > 1}


class Sweep:
    def __init__(self, client, headers: dict[str, str], schemas: dict[str, Any]) -> None:
        self.client, self.headers, self.schemas = client, headers, schemas
        self.numbers = count(1)
        self.planted: dict[int, str] = {}  # tag number -> "Schema.field"

    def text_fields(self, schema: dict[str, Any]) -> list[tuple[str, int | None]]:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        found = []
        for name, spec in schema.get("properties", {}).items():
            options = spec.get("anyOf", [spec])
            text = next((o for o in options if o.get("type") == "string"), None)
            plain = text and not ({"enum", "pattern", "format", "const"} & set(text))
            if plain and name not in NOT_SHOWN:
                found.append((name, text.get("maxLength")))
        return found

    def tag(self, where: str, room: int | None) -> str:
        number = next(self.numbers)
        self.planted[number] = where
        value = f"<x{number}>\"'&%"
        return value if room is None or len(value) <= room else value[:room]

    def create(self, method: str, path: str, body: dict[str, Any], schema: str) -> dict:
        """Send ``body`` with a tag in each text field it does not set itself. A field
        whose validation refuses the tag (an e-mail address, a phone number) is sent
        without it: what is refused is never stored."""
        tagged = {}
        for name, room in self.text_fields({"$ref": f"#/{schema}"}):
            if name not in body and (room is None or room >= 6):
                tagged[name] = self.tag(f"{schema}.{name}", room)
        while True:
            response = self.client.request(
                method, path, json={**body, **tagged}, headers=self.headers
            )
            if response.status_code != 422:
                break
            refused = fields_named(response.json())
            assert refused & set(tagged), (path, response.text)
            for name in refused & set(tagged):
                self.planted.pop(int(RAW.match(tagged.pop(name)).group(1)))
        assert response.status_code < 300, (path, response.text)
        return response.json()


@pytest.fixture
def sweep(client, session):
    chief = make_user(session, roles=tuple(Role), name="<x0>Chief")
    headers = {"Authorization": f"Bearer {make_token(session, chief)}"}
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    return Sweep(client, headers, schemas), chief


def plant(sweep: Sweep) -> dict[str, Any]:
    """A record of each kind, tagged, and the path parameters that reach them."""
    s = sweep
    company = s.create("POST", "/api/v1/companies", {}, "CompanyCreate")
    contact = s.create(
        "POST",
        "/api/v1/contacts",
        {"emails": ["tagged@example.com"], "company_id": company["id"], "tags": ["vip"]},
        "ContactCreate",
    )
    journey = s.create("POST", "/api/v1/journeys", {}, "JourneyCreate")
    phases = [
        s.create(
            "POST",
            f"/api/v1/journeys/{journey['id']}/phases",
            {"key": key, "kind": kind, "target_days": 10},
            "PhaseCreate",
        )
        for key, kind in (("first", "pre_purchase"), ("bought", "purchase"))
    ]
    enrollment = s.create(
        "POST",
        "/api/v1/enrollments",
        {"journey_id": journey["id"], "phase_id": phases[0]["id"], "contact_id": contact["id"]},
        "EnrollmentCreate",
    )
    s.create(
        "POST",
        f"/api/v1/enrollments/{enrollment['id']}/move",
        {"phase_id": phases[1]["id"]},
        "MoveRequest",
    )
    pipeline = s.create("POST", "/api/v1/pipelines", {}, "PipelineCreate")
    stage = s.create(
        "POST", f"/api/v1/pipelines/{pipeline['id']}/stages", {"kind": "open"}, "StageCreate"
    )
    deal = s.create(
        "POST",
        "/api/v1/deals",
        {
            "company_id": company["id"],
            "contacts": [{"contact_id": contact["id"], "role": s.tag("DealContactIn.role", 80)}],
            "pipeline_id": pipeline["id"],
            "stage_id": stage["id"],
            "amount": "1000",
        },
        "DealCreate",
    )
    channel = s.create("POST", "/api/v1/lists/channels", {"key": "pigeon"}, "ListEntryCreate")
    touchpoint = s.create(
        "POST",
        "/api/v1/touchpoints",
        {"contact_id": contact["id"], "channel": "pigeon", "sentiment": -1, "nps": 3},
        "TouchpointCreate",
    )
    followup = s.create(
        "POST",
        "/api/v1/followups",
        {
            "due_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "contact_id": contact["id"],
            "deal_id": deal["id"],
        },
        "FollowupCreate",
    )
    rule = s.create(
        "POST",
        "/api/v1/followup-rules",
        {"journey_id": journey["id"], "trigger": "quiet", "days": 30},
        "RuleCreate",
    )
    purpose = s.create(
        "POST",
        "/api/v1/purposes",
        {"key": "tagged", "legal_basis": "a", "is_marketing": True},
        "PurposeCreate",
    )
    s.create(
        "POST", f"/api/v1/purposes/{purpose['id']}/texts", {"language": "en"}, "ConsentTextCreate"
    )
    s.create(
        "POST",
        f"/api/v1/contacts/{contact['id']}/consents",
        {"purpose": "tagged", "action": "granted"},
        "ConsentChange",
    )
    request = s.create(
        "POST",
        "/api/v1/privacy-requests",
        {"kind": "access", "contact_id": contact["id"], "requester_email": "tagged@example.com"},
        "RequestCreate",
    )
    mailbox = plant_mail(s, contact_email="tagged@example.com")
    template = s.create("POST", "/api/v1/mail-templates", {}, "MailTemplateCreate")
    s.create("PATCH", "/api/v1/me", {}, "Preferences")
    return {
        "mailbox_id": mailbox["id"],
        "template_id": template["id"],
        "contact_id": contact["id"],
        "company_id": company["id"],
        "journey_id": journey["id"],
        "phase_id": phases[0]["id"],
        "enrollment_id": enrollment["id"],
        "pipeline_id": pipeline["id"],
        "stage_id": stage["id"],
        "deal_id": deal["id"],
        "touchpoint_id": touchpoint["id"],
        "followup_id": followup["id"],
        "rule_id": rule["id"],
        "purpose_id": purpose["id"],
        "request_id": request["id"],
        "kind": "channels",
        "entry_id": channel["id"],
    }


def plant_mail(s: Sweep, *, contact_email: str) -> dict[str, Any]:
    """A mailbox on the real Dovecot, read: a tagged mail from the contact, with a quote
    and an attachment, and one from a stranger that waits for triage."""
    box = mailboxes.account("sweep")
    mailbox = s.create(
        "POST",
        "/api/v1/mailboxes",
        {
            "address": box,
            "host": mailservers.HOST,
            "port": mailservers.IMAP_PORT,
            "security": "none",
            "username": box,
            "password": mailservers.PASSWORD,
        },
        "MailboxCreate",
    )
    known = mailboxes.mail(
        sender=str(Address(s.tag("Mail.from_name", 200), addr_spec=contact_email)),
        to=box,
        subject=s.tag("Mail.subject", 500),
        body=s.tag("Mail.text", None) + "\n\nOn Monday, we wrote:\n> " + s.tag("Mail.quoted", None),
    )
    known.add_attachment(
        b"x", maintype="text", subtype="plain", filename=s.tag("Mail.attachment", 200)
    )
    stranger = mailboxes.mail(
        sender=str(Address(s.tag("Triage.name", 200), addr_spec="stranger.sweep@example.com")),
        to=box,
        subject=s.tag("Triage.subject", 500),
        body=s.tag("Triage.text", None),
    )
    for message in (known, stranger):
        mailboxes.append(box, message)
    read = s.client.post(f"/api/v1/mailboxes/{mailbox['id']}/read", headers=s.headers)
    assert read.json()["touchpoints"] == 1 and read.json()["triaged"] == 1, read.text
    return mailbox


def page_paths(ids: dict[str, Any], user_id: int) -> list[str]:
    paths = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            if "GET" not in route.methods or route.path.startswith("/api/"):
                continue
            try:
                paths.append(route.path.format(**ids, user_id=user_id))
            except KeyError:  # a token or an import: pages of their own tests
                continue
    return paths


def test_no_stored_text_comes_back_as_markup_on_any_page(client, session, sweep):
    sweep, chief = sweep
    ids = plant(sweep)
    login(client, chief.email)
    seen: set[int] = set()
    raw: dict[str, list[str]] = {}
    for path in page_paths(ids, chief.id):
        page = client.get(path)
        assert page.status_code < 500, path
        if not page.headers.get("content-type", "").startswith("text/html"):
            continue
        if found := RAW.findall(page.text):
            raw[path] = found
        seen.update(int(n) for n in ESCAPED.findall(page.text))
    assert raw == {}, "markup from stored text reached these pages unescaped"
    never_shown = {where for number, where in sweep.planted.items() if number not in seen}
    assert never_shown == set(), "stored text that no page shows"


INJECTED = "Boss\r\nEMAIL:thief@example.org\r\nEND:VCARD"


def test_exports_and_mail_keep_injected_lines_and_formulas_inside_their_values(
    client, session, sweep, settings, monkeypatch
):
    sweep, chief = sweep
    headers = sweep.headers
    contact = sweep.create(
        "POST",
        "/api/v1/contacts",
        {
            "first_name": '=HYPERLINK("http://evil.example.org")',
            "last_name": "Ink",
            "job_title": INJECTED,
            "emails": ["ink@example.com"],
        },
        "ContactCreate",
    )
    card = client.get(f"/api/v1/contacts/{contact['id']}/vcard", headers=headers).text
    unfolded = card.replace("\r\n ", "")
    assert [line for line in unfolded.split("\r\n") if line.startswith("EMAIL")] == [
        "EMAIL;TYPE=INTERNET,PREF:ink@example.com"
    ]
    assert unfolded.split("\r\n").count("END:VCARD") == 1
    assert "Boss\\nEMAIL:thief@example.org\\nEND:VCARD" in unfolded
    rows = client.get("/api/v1/contacts/export.csv?q=ink%40example.com", headers=headers).text
    assert "'=HYPERLINK" in rows and ",=HYPERLINK" not in rows and "\n=HYPERLINK" not in rows

    journey = client.get("/api/v1/journeys", headers=headers).json()[0]
    phase = client.get(f"/api/v1/journeys/{journey['id']}", headers=headers).json()["phases"][0]
    renamed = client.patch(
        f"/api/v1/phases/{phase['id']}",
        json={"name": "@SUM(1+1)*cmd|' /C calc'!A0"},
        headers=headers,
    )
    assert renamed.status_code == 200, renamed.text
    login(client, chief.email)
    for export in ("map.csv", "analytics.csv"):
        text = client.get(f"/journeys/{journey['id']}/{export}").text
        assert "'@SUM(1+1)" in text and "\n@SUM" not in text and ",@SUM" not in text, export

    followup = client.post(
        "/api/v1/followups",
        json={
            "title": "Call\r\nATTENDEE:thief@example.org",
            "due_at": "2030-01-01T09:00:00Z",
            "contact_id": contact["id"],
        },
        headers=headers,
    )
    assert followup.status_code == 201, followup.text
    feed = client.post("/api/v1/followups/calendar-link", headers=headers).json()["url"]
    calendar = client.get(feed.removeprefix("http://testserver")).text.replace("\r\n ", "")
    assert "ATTENDEE" not in [line.split(":")[0] for line in calendar.split("\r\n")]
    assert "Call\\nATTENDEE:thief@example.org" in calendar

    purpose = sweep.create(
        "POST",
        "/api/v1/purposes",
        {"key": "newsletter_x", "legal_basis": "a", "name": "News\r\nBcc: thief@example.org"},
        "PurposeCreate",
    )
    sweep.create(
        "POST", f"/api/v1/purposes/{purpose['id']}/texts", {"language": "en"}, "ConsentTextCreate"
    )
    with smtp_sink() as sink:
        monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(settings, "smtp_port", sink.server_address[1])
        sent = client.post(
            f"/api/v1/contacts/{contact['id']}/consents/double-opt-in",
            json={"purpose": purpose["key"]},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text
        (message,) = sink.messages
    assert message["Bcc"] is None and message["To"] == "ink@example.com"
    assert message["Subject"] == "Please confirm: News Bcc: thief@example.org"
