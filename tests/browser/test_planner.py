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


def a_contact_to_follow_up(live_server, *, user_email, name, title, due_in):
    """A new contact with a follow-up for the user; the contact's id."""
    first_name, last_name = name.split()
    with live_server.session() as session:
        user = session.exec(select(User).where(User.email == user_email)).one()
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(first_name=first_name, last_name=last_name),
            actor_id=None,
        )
        data = FollowupCreate(title=title, due_at=datetime.now(UTC) + due_in, contact_id=contact.id)
        followup_service.create_followup(session, data=data, actor_id=user.id)
        session.commit()
        return contact.id


def test_complete_a_follow_up_by_logging_the_call(live_server, page: Page):
    live_server.log_in_as_new_user(
        page, email="amelie@example.com", name="Amelie Account", role=Role.ACCOUNT_MANAGER
    )
    contact_id = a_contact_to_follow_up(
        live_server,
        user_email="amelie@example.com",
        name="Paul Planner",
        title="Onboarding check-in",
        due_in=timedelta(hours=-3),
    )

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
    contact_id = a_contact_to_follow_up(
        live_server,
        user_email="sami@example.com",
        name="Olga Offer",
        title="Send the quote",
        due_in=timedelta(days=1),
    )

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    page.get_by_label("What happened?").fill("Sent the quote by mail")
    page.get_by_label("What happened?").press("Enter")
    expect(page.locator("#timeline").get_by_text("Sent the quote by mail")).to_be_visible()
    page.get_by_role("button", name="Done: Send the quote").click()

    expect(page.get_by_text("Done.", exact=True)).to_be_visible()
    expect(page.locator("#followups").get_by_text("Nothing to follow up.")).to_be_visible()
