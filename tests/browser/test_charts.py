"""A chart names its axes and tells the figure under the pointer; the table beside it
holds every figure."""

from playwright.sync_api import Page, expect

from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate
from crm.users.models import Role
from tests.factories import make_contact


def test_the_funnel_names_its_axis_and_the_hovered_bar_says_its_figures(
    live_server, page: Page, screenshot
):
    with live_server.session() as session:
        journey = journey_service.create_journey(
            session, data=JourneyCreate(name="Chart journey", template="classic"), actor_id=None
        )
        first = journey_service.phases_of(session, journey)[0]
        for number in range(3):
            journey_service.enroll(
                session,
                data=EnrollmentCreate(
                    journey_id=journey.id,
                    phase_id=first.id,
                    contact_id=make_contact(session, first_name=f"Chart{number}").id,
                ),
                actor_id=None,
            )
        session.commit()
        journey_id = journey.id
    live_server.log_in_as_new_user(
        page, email="charts@example.com", name="Carla Charts", role=Role.ACCOUNT_MANAGER
    )
    page.goto(f"{live_server.url}/journeys/{journey_id}/analytics")
    funnel = page.get_by_role("img", name="Funnel")
    expect(funnel).to_be_visible()
    expect(funnel.get_by_text("Subjects who entered")).to_be_visible()
    bar = funnel.locator(".datum").first
    bar.hover()
    hovered = page.evaluate("document.querySelector('svg .datum:hover title')?.textContent")
    assert hovered == "Awareness: Entered 3, Moved on 0"
    screenshot(page, "analytics-funnel")
    table = page.get_by_role("table").first
    expect(table.get_by_role("row", name="Awareness")).to_contain_text("3")
