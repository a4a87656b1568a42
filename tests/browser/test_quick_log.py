"""A sales rep finds a contact, logs the call that just ended, and sees it in the timeline."""

import re

from playwright.sync_api import Page, expect

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate, ContactCreate
from crm.users.models import Role


def test_search_a_contact_and_log_a_call_with_the_quick_log(live_server, page: Page):
    with live_server.session() as session:
        company = contact_service.create_company(
            session, data=CompanyCreate(name="Brauerei Sonnenschein"), actor_id=None
        )
        for first, last in (("Greta", "Grünwald"), ("Hans", "Habermann"), ("Ines", "Ilgner")):
            contact_service.create_contact(
                session,
                data=ContactCreate(
                    first_name=first,
                    last_name=last,
                    company_id=company.id,
                    emails=[f"{first.lower()}@sonnenschein.example"],
                ),
                actor_id=None,
            )
        session.commit()

    live_server.log_in_as_new_user(
        page, email="rita@example.com", name="Rita Rep", role=Role.SALES_REP
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("link", name="Ilgner, Ines")).to_be_visible()
    page.get_by_label("Search", exact=True).press_sequentially("haber", delay=30)
    expect(page.get_by_role("link", name="Ilgner, Ines")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/contacts\?q=haber&sort=name"))
    page.get_by_role("link", name="Habermann, Hans").click()

    expect(page.get_by_role("heading", name="Hans Habermann")).to_be_visible()
    expect(page.get_by_text("Nothing logged yet.")).to_be_visible()
    expect(page.get_by_label("Channel")).to_have_value("call")
    page.get_by_label("What happened?").fill("Called about the spring order, sending an offer")
    page.get_by_title("positive", exact=True).click()
    url_before = page.url
    page.get_by_role("button", name="Log it").click()

    timeline = page.locator("#timeline")
    expect(timeline.get_by_text("Called about the spring order, sending an offer")).to_be_visible()
    expect(timeline.get_by_text("Call", exact=True)).to_be_visible()
    expect(page.get_by_text("Nothing logged yet.")).to_be_hidden()
    expect(page.get_by_label("What happened?")).to_have_value("")  # a fresh form
    assert page.url == url_before  # no page load

    page.get_by_label("What happened?").fill("")
    page.get_by_role("button", name="Log it").click()  # the browser stops an empty summary
    expect(timeline.locator("li.touchpoint")).to_have_count(1)

    page.reload()
    expect(page.locator("#timeline").get_by_text("Called about the spring order")).to_be_visible()
