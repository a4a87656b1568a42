"""A sales rep drags a card to the next phase, says why, and finds the move on the
contact's timeline and in the journey's funnel; the keyboard does the same through the
card's Move link."""

from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, Journey
from crm.users.models import Role


def funnel_row(page: Page, phase: str) -> Locator:
    """The figures of ``phase`` in the analytics page's funnel table."""
    return page.locator("table tr", has=page.locator("th", has_text=phase)).first.locator("td")


def test_drag_a_card_to_the_next_phase_and_see_it_on_the_timeline(live_server, page: Page):
    with live_server.session() as session:
        journey = session.exec(select(Journey).where(Journey.name == "Classic")).one()
        phases = {p.key: p for p in journey_service.phases_of(session, journey)}
        for first, last in (("Dora", "Drag"), ("Kai", "Keys")):
            contact = contact_service.create_contact(
                session,
                data=ContactCreate(first_name=first, last_name=last, emails=[f"{first}@x.example"]),
                actor_id=None,
            )
            journey_service.enroll(
                session,
                data=EnrollmentCreate(
                    journey_id=journey.id,
                    phase_id=phases["awareness"].id,
                    contact_id=contact.id,
                ),
                actor_id=None,
            )
        session.commit()

    live_server.log_in_as_new_user(
        page, email="bo@example.com", name="Bo Board", role=Role.SALES_REP
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Journeys").click()
    page.get_by_role("link", name="Classic").click()
    # The funnel before: both entered awareness and are still there.
    page.get_by_role("link", name="Analytics").click()
    expect(funnel_row(page, "Awareness")).to_have_text(["2", "0", "0", "0", "0", "2", "0 %", "0 %"])
    page.get_by_role("link", name="Board", exact=True).click()
    awareness = page.locator(f"section.column[data-phase='{phases['awareness'].id}']")
    consideration = page.locator(f"section.column[data-phase='{phases['consideration'].id}']")
    expect(awareness.locator(".count")).to_have_text("2")

    awareness.locator(".board-card", has_text="Dora Drag").drag_to(consideration)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("To")).to_have_value(str(phases["consideration"].id))
    dialog.get_by_label("Why?").fill("Asked for a demo")
    dialog.get_by_role("button", name="Move").click()

    expect(page.get_by_text("Moved.")).to_be_visible()
    expect(consideration.locator(".count")).to_have_text("1")
    expect(awareness.locator(".count")).to_have_text("1")

    # The keyboard's way: the card's Move link opens the same dialog.
    kai = awareness.locator(".board-card", has_text="Kai Keys")
    kai.get_by_role("link", name="Move… Kai Keys").focus()
    page.keyboard.press("Enter")
    dialog.get_by_label("To").select_option(label="Conversion")
    dialog.get_by_label("Why?").fill("Signed")
    dialog.get_by_label("Why?").press("Enter")
    expect(
        page.locator(f"section.column[data-phase='{phases['conversion'].id}'] .count")
    ).to_have_text("1")

    # The funnel after: both moved on from awareness, one of them through consideration.
    page.get_by_role("link", name="Analytics").click()
    expect(funnel_row(page, "Awareness")).to_have_text(
        ["2", "2", "0", "0", "0", "0", "100 %", "0 %"]
    )
    expect(funnel_row(page, "Consideration")).to_have_text(
        ["1", "0", "0", "0", "0", "1", "0 %", "0 %"]
    )
    page.get_by_role("link", name="Journey map").click()
    expect(page.get_by_role("heading", name="Emotion curve")).to_be_visible()
    page.get_by_role("link", name="Board", exact=True).click()

    consideration.get_by_role("link", name="Dora Drag", exact=True).click()
    timeline = page.locator("#timeline")
    expect(timeline.get_by_text("Moved from Awareness to Consideration")).to_be_visible()
    expect(timeline.get_by_text("Asked for a demo")).to_be_visible()
    expect(page.locator("#journeys").get_by_text("Consideration")).to_be_visible()
