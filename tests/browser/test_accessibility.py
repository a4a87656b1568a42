"""Every page passes axe-core (vendored under vendor/axe-core) without serious or
critical violations. The pages come from the route table, so a new page is checked
without anyone adding it here."""

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, Page

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate, ContactCreate
from crm.core.db import utcnow
from crm.deals import service as deal_service
from crm.deals.models import DealCreate, PipelineCreate
from crm.followups import rules as followup_rules
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.gdpr import cases
from crm.gdpr.models import RequestCreate
from crm.imports import service as import_service
from crm.imports.models import ImportKind
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate
from crm.mail import drafts
from crm.mail import service as mail_service
from crm.mail.template_models import MailTemplateCreate
from crm.main import ROUTERS
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests import mailboxes
from tests.browser.conftest import PASSWORD, LiveServer, running_server
from tests.conftest import TEST_SECRET, make_settings

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# What axe reports at these levels keeps someone from using the page.
BLOCKING = ("serious", "critical")


def page_paths() -> list[str]:
    """Every page route (an HTML GET outside the API), with its path parameters left in."""
    return sorted(
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and route.response_class is HTMLResponse
        and not route.path.startswith("/api/")
    )


def seed(live_server) -> dict[str, str]:
    """One of everything a page can be about; the path parameters that reach them."""
    with live_server.session() as session:
        admin = user_service.create_user(
            session,
            data=UserCreate(email="all.roles@example.com", name="Alex Allrounder", roles=set(Role)),
            password=PASSWORD,
            actor_id=None,
        )
        company = contact_service.create_company(
            session,
            data=CompanyCreate(name="Mühle Morgentau", website="https://muehle.example"),
            actor_id=None,
        )
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(
                first_name="Mira",
                last_name="Morgentau",
                company_id=company.id,
                emails=["mira@muehle.example"],
            ),
            actor_id=None,
        )
        touchpoint_service.log_touchpoint(
            session,
            data=TouchpointCreate(summary="First call", contact_id=contact.id, nps=9, sentiment=1),
            actor_id=admin.id,
        )
        journey = journey_service.create_journey(
            session, data=JourneyCreate(name="Accessibility", template="classic"), actor_id=None
        )
        phase = journey_service.phases_of(session, journey)[0]
        journey_service.enroll(
            session,
            data=EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, contact_id=contact.id),
            actor_id=None,
        )
        pipeline = deal_service.create_pipeline(
            session, data=PipelineCreate(name="Accessibility"), actor_id=None
        )
        stages = deal_service.stages_of(session, pipeline)
        stage = stages[0]
        # The second deal is a card far to the right: a board's columns scroll in their box.
        last_open = [s for s in stages if s.kind == "open"][-1]
        deal, _ = (
            deal_service.create_deal(
                session,
                data=DealCreate(
                    title=title,
                    pipeline_id=pipeline.id,
                    stage_id=in_stage.id,
                    company_id=company.id,
                    owner_id=admin.id,
                ),
                actor_id=None,
            )
            for title, in_stage in (("Mill upgrade", stage), ("Mill extension", last_open))
        )
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Call Mira back",
                due_at=utcnow() + timedelta(hours=1),
                assignee_id=admin.id,
                contact_id=contact.id,
            ),
            actor_id=None,
        )
        request = cases.create_request(
            session,
            data=RequestCreate(
                kind="access", requester_name="Mira Morgentau", contact_id=contact.id
            ),
            actor_id=None,
        )
        job = import_service.create_import(
            session,
            kind=ImportKind.CONTACTS,
            filename="people.csv",
            stream=io.BytesIO(b"first_name,last_name,email\nOle,Olsen,ole@example.com\n"),
            max_bytes=1 << 20,
            actor_id=admin.id,
        )
        followup_rules.seed_default_rules(session)
        box = mailboxes.account("axe")
        mailbox = mailboxes.make_mailbox(session, address=box, secret_key=TEST_SECRET)
        quoting = mailboxes.mail(sender="mira@muehle.example", to=box, body="Yes.\n-- \nMira")
        quoting.add_attachment(b"x", maintype="text", subtype="plain", filename="note.txt")
        mailboxes.append(box, quoting)
        mailboxes.append(box, mailboxes.mail(sender="Nils New <nils@new.example>", to=box))
        mail_service.read_now(
            session, mailbox=mailbox, settings=make_settings(Path(), str(live_server.engine.url))
        )
        template = drafts.create_template(
            session,
            data=MailTemplateCreate(
                name="Check-in",
                subject_en="How is it going, {{ contact.first_name }}?",
                body_en="Hello {{ contact.first_name }},\n\n{{ user.signature }}",
            ),
            actor_id=None,
        )
        ids = {
            "mailbox_id": mailbox.id,
            "template_id": template.id,
            "user_id": admin.id,
            "contact_id": contact.id,
            "company_id": company.id,
            "journey_id": journey.id,
            "phase_id": phase.id,
            "pipeline_id": pipeline.id,
            "stage_id": stage.id,
            "deal_id": deal.id,
            "rule_id": followup_rules.list_rules(session)[0].id,
            "request_id": request.id,
            "import_id": job.id,
            "token": "not-a-real-token",
            "language": "en",
        }
        session.commit()
    return {key: str(value) for key, value in ids.items()}


def violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']}"
        for v in found
        if v["impact"] in BLOCKING
    ]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    """A server of its own: the records made here would change what other tests count."""
    with running_server(tmp_path_factory.mktemp("accessibility")) as live:
        yield live, seed(live)


def concrete_paths(ids: dict[str, str]) -> list[str]:
    paths = [re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path) for path in page_paths()]
    return [path for path in paths if path != "/login"] + ["/help/guide/de"]


def log_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("E-mail").fill("all.roles@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")


@pytest.fixture
def checked_page(browser: Browser):
    # The CSP allows only the site's own scripts; axe is injected by the test.
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_every_page_passes_the_accessibility_check(own_server, checked_page: Page, screenshot):
    live_server, ids = own_server
    page = checked_page
    page.goto(live_server.url + "/login")
    found = {"/login": violations(page)}
    log_in(page, live_server.url)
    screenshot(page, "home-admin")
    paths = concrete_paths(ids)
    for url in paths:
        response = page.goto(live_server.url + url)
        assert response is not None and response.status < 500, (url, response and response.status)
        found[url] = violations(page)
    assert len(paths) > 40  # the route table was read
    failing = {url: v for url, v in found.items() if v}
    assert not failing, "\n".join(f"{url}: {v}" for url, v in failing.items())


def test_every_page_fits_a_phone_and_logs_no_console_error(own_server, page: Page):
    """The `page` fixture fails the test on any console error; this walks every page with
    the Content-Security-Policy in force, once what each page loads by itself has arrived,
    on a phone's width: none may reach past the screen's edge (wide tables and boards
    scroll inside their own box)."""
    live_server, ids = own_server
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url)
    too_wide = {}
    paths = concrete_paths(ids)
    for url in paths:
        response = page.goto(live_server.url + url, wait_until="networkidle")
        assert response is not None and response.status < 500, (url, response and response.status)
        reach = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if reach > 0:
            too_wide[url] = reach
    assert len(paths) > 40
    assert too_wide == {}, "pages wider than the phone (px too wide)"
