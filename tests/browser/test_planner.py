"""An account manager opens the planner, completes an overdue follow-up by logging the
call, and sees it gone from the planner and the call on the contact's timeline."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.users.models import Role, User


def test_complete_a_follow_up_by_logging_the_call(live_server, page: Page):
    live_server.log_in_as_new_user(
        page, email="amelie@example.com", name="Amelie Account", role=Role.ACCOUNT_MANAGER
    )
    with live_server.session() as session:
        manager = session.exec(select(User).where(User.email == "amelie@example.com")).one()
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(first_name="Paul", last_name="Planner", emails=["paul@x.example"]),
            actor_id=None,
        )
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Onboarding check-in",
                due_at=datetime.now(UTC) - timedelta(hours=3),
                contact_id=contact.id,
            ),
            actor_id=manager.id,
        )
        session.commit()
        contact_id = contact.id

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Planner").click()
    overdue = page.get_by_role("region", name="Overdue")
    expect(overdue.locator("strong", has_text="Onboarding check-in")).to_be_visible()
    overdue.get_by_text("Done…").click()
    overdue.get_by_label("What happened (logged as a touchpoint)").fill(
        "Called: happy with the start"
    )
    overdue.get_by_role("button", name="Done", exact=True).click()

    expect(page.get_by_text("Done.", exact=True)).to_be_visible()
    expect(page.locator("strong", has_text="Onboarding check-in")).to_have_count(0)
    page.goto(f"{live_server.url}/contacts/{contact_id}")
    expect(page.locator("#timeline").get_by_text("Called: happy with the start")).to_be_visible()


def test_logging_a_call_offers_to_complete_the_open_follow_up(live_server, page: Page):
    live_server.log_in_as_new_user(
        page, email="sami@example.com", name="Sami Sales", role=Role.SALES_REP
    )
    with live_server.session() as session:
        rep = session.exec(select(User).where(User.email == "sami@example.com")).one()
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(first_name="Olga", last_name="Offer", emails=["olga@x.example"]),
            actor_id=None,
        )
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Send the quote",
                due_at=datetime.now(UTC) + timedelta(days=1),
                contact_id=contact.id,
            ),
            actor_id=rep.id,
        )
        session.commit()
        contact_id = contact.id

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    page.get_by_label("What happened?").fill("Sent the quote by mail")
    page.get_by_label("What happened?").press("Enter")
    expect(page.locator("#timeline").get_by_text("Sent the quote by mail")).to_be_visible()
    page.get_by_role("button", name="Done: Send the quote").click()

    expect(page.get_by_text("Done.", exact=True)).to_be_visible()
    expect(page.locator("#followups").get_by_text("Nothing to follow up.")).to_be_visible()
