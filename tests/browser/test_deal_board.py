"""A sales rep wins a deal on the board by dragging it to Won, and finds its company in
the journey's first post-purchase phase."""

from playwright.sync_api import Page, expect
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate
from crm.deals import service as deal_service
from crm.deals.models import DealCreate
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, Journey
from crm.users.models import Role


def test_win_a_deal_on_the_board_and_see_the_customer_move_on(live_server, page: Page):
    with live_server.session() as session:
        journey = session.exec(select(Journey).where(Journey.name == "Classic")).one()
        phases = {p.key: p for p in journey_service.phases_of(session, journey)}
        company = contact_service.create_company(
            session, data=CompanyCreate(name="Winzerhof Süd"), actor_id=None
        )
        journey_service.enroll(
            session,
            data=EnrollmentCreate(
                journey_id=journey.id, phase_id=phases["conversion"].id, company_id=company.id
            ),
            actor_id=None,
        )
        pipeline = deal_service.list_pipelines(session)[0]
        stages = {s.key: s for s in deal_service.stages_of(session, pipeline)}
        deal_service.create_deal(
            session,
            data=DealCreate(title="Wine for the fair", company_id=company.id, amount="4800"),
            actor_id=None,
        )
        session.commit()

    live_server.log_in_as_new_user(
        page, email="wim@example.com", name="Wim Win", role=Role.SALES_REP
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deals").click()
    page.get_by_role("link", name="Board: Sales").click()
    qualified = page.locator(f"section.column[data-stage='{stages['qualified'].id}']")
    won = page.locator(f"section.column[data-stage='{stages['won'].id}']")
    expect(qualified.locator(".count")).to_have_text("1")

    qualified.locator(".board-card", has_text="Wine for the fair").drag_to(won)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("To")).to_have_value(str(stages["won"].id))
    dialog.get_by_role("button", name="Move").click()

    expect(page.get_by_text("Moved.")).to_be_visible()
    expect(won.locator(".count")).to_have_text("1")
    expect(qualified.locator(".count")).to_have_text("0")
    expect(won.get_by_text("€4,800.00").first).to_be_visible()

    won.get_by_role("link", name="Wine for the fair", exact=True).click()
    page.get_by_role("link", name="Winzerhof Süd").click()
    journeys = page.locator("#journeys")
    # the enrollment's line, not the phase offered for another journey below it
    expect(journeys.locator("p", has_text="Retention")).to_be_visible()
    expect(page.locator("#deals").get_by_text("Customer class")).to_be_visible()
