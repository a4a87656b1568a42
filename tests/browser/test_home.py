"""Each role's day starts on its home page: what is due, where to go, and the keys
that get there fast."""

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate, ContactCreate
from crm.core.db import utcnow
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.gdpr import cases
from crm.gdpr.models import RequestCreate
from crm.users.models import Role, User


def _user_id(live_server, email: str) -> int:
    with live_server.session() as session:
        return session.exec(select(User.id).where(User.email == email)).one()


def test_a_rep_finds_the_person_from_home_and_logs_the_call(live_server, page: Page, screenshot):
    with live_server.session() as session:
        company = contact_service.create_company(
            session, data=CompanyCreate(name="Kaffeerösterei Morgenrot"), actor_id=None
        )
        contact_service.create_contact(
            session,
            data=ContactCreate(first_name="Jana", last_name="Jablonski", company_id=company.id),
            actor_id=None,
        )
        session.commit()
    live_server.log_in_as_new_user(
        page, email="rhea@example.com", name="Rhea Rep", role=Role.SALES_REP
    )
    expect(page.get_by_role("heading", name="Sales")).to_be_visible()
    expect(page.get_by_text("You have logged no touchpoints lately.")).to_be_visible()

    page.get_by_label("Find the person").press_sequentially("jablon", delay=30)
    found = page.locator("#quick-find-results").get_by_role("link", name="Jana Jablonski")
    expect(found).to_be_visible()
    screenshot(page, "home-sales")
    found.click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+#quick-log$"))
    page.get_by_label("What happened?").fill("Called about the roaster, she wants a demo")
    page.get_by_role("button", name="Log it").click()
    expect(page.locator("#timeline").get_by_text("she wants a demo")).to_be_visible()
    screenshot(page, "quick-log")

    page.get_by_role("link", name="Home").click()
    recent = page.locator("#sales-title").locator("..")
    expect(recent.get_by_role("link", name="Jana Jablonski")).to_be_visible()


def test_the_keys_search_create_and_log(live_server, page: Page, screenshot):
    with live_server.session() as session:
        contact_service.create_company(
            session, data=CompanyCreate(name="Sägewerk Abendrot"), actor_id=None
        )
        session.commit()
    live_server.log_in_as_new_user(
        page, email="kai@example.com", name="Kai Keys", role=Role.SALES_REP
    )
    page.wait_for_load_state()
    page.keyboard.press("/")
    search = page.locator("#global-search")
    expect(search).to_be_focused()
    search.press_sequentially("abendr", delay=30)
    results = page.locator("#search-results")
    expect(results.get_by_role("link", name="Sägewerk Abendrot")).to_be_visible()
    screenshot(page, "search")
    search.press("Escape")
    expect(results.get_by_role("link")).to_have_count(0)

    page.goto(live_server.url + "/contacts")
    page.wait_for_load_state()
    page.keyboard.press("n")
    expect(page).to_have_url(live_server.url + "/contacts/new")
    page.keyboard.press("?")  # typed in no field: the help page
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    screenshot(page, "help")


def test_an_account_manager_starts_from_the_planner_counts(live_server, page: Page, screenshot):
    live_server.log_in_as_new_user(
        page, email="ada.am@example.com", name="Ada Account", role=Role.ACCOUNT_MANAGER
    )
    manager_id = _user_id(live_server, "ada.am@example.com")
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session, data=ContactCreate(first_name="Lea", last_name="Lindqvist"), actor_id=None
        )
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Check in after onboarding",
                due_at=utcnow() - timedelta(days=1),
                assignee_id=manager_id,
                contact_id=contact.id,
            ),
            actor_id=None,
        )
        session.commit()
    page.reload()
    expect(page.get_by_role("heading", name="After-sales")).to_be_visible()
    screenshot(page, "home-account")
    page.get_by_role("link", name="1 overdue").click()
    expect(page.get_by_role("strong").filter(has_text="Check in after onboarding")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/planner#group-overdue$"))
    screenshot(page, "planner")


def test_a_dpo_opens_the_request_due_first(live_server, page: Page, screenshot):
    with live_server.session() as session:
        for name, days in (("Later Lutz", 1), ("Urgent Uma", 40)):
            cases.create_request(
                session,
                data=RequestCreate(
                    kind="access", requester_name=name, received_at=utcnow() - timedelta(days=days)
                ),
                actor_id=None,
            )
        session.commit()
    live_server.log_in_as_new_user(
        page, email="dora.home@example.com", name="Dora DPO", role=Role.DPO
    )
    # The DPO's own section is the first (and only) thing on their home, not the sales one.
    expect(page.locator("main h2").first).to_have_text("Privacy")
    expect(page.get_by_role("heading", name="Sales")).to_have_count(0)
    requests = page.locator("#privacy-title").locator("..")
    expect(requests.get_by_text("overdue")).to_be_visible()
    screenshot(page, "home-privacy")
    requests.get_by_role("link").filter(has_text="Urgent Uma").click()
    expect(page.get_by_role("heading", name=re.compile("Urgent Uma"))).to_be_visible()
    screenshot(page, "privacy-request")


def test_an_administrator_follows_the_checklist_then_puts_it_away(live_server, page: Page):
    live_server.log_in_as_new_user(
        page, email="ada.admin@example.com", name="Ada Admin", role=Role.ADMIN
    )
    checklist = page.locator("#checklist-title").locator("..")
    expect(checklist).to_be_visible()
    checklist.get_by_role("link", name="Invite your colleagues").click()
    expect(page).to_have_url(live_server.url + "/users")
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.get_by_role("button", name="Put the checklist away").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("#checklist-title")).to_have_count(0)
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
