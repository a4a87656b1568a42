"""A data protection officer takes an erasure request from receipt to done: records it,
verifies the identity, erases the person, and redacts the mention left elsewhere."""

import re

from playwright.sync_api import Page, expect

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyCreate, ContactCreate
from crm.users.models import Role


def test_an_erasure_request_from_receipt_to_done(live_server, page: Page, screenshot):
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(first_name="Edda", last_name="Erased", emails=["edda@x.example"]),
            actor_id=None,
        )
        contact_service.create_company(
            session,
            data=CompanyCreate(name="Mention GmbH", notes="Edda Erased is our fan"),
            actor_id=None,
        )
        session.commit()
        contact_id = contact.id
    live_server.log_in_as_new_user(
        page, email="dora@example.com", name="Dora Privacy", role=Role.DPO
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy").click()
    page.get_by_role("link", name="New request").click()
    page.get_by_label("Kind").select_option("erasure")
    page.get_by_label("From (name)").fill("Edda Erased")
    page.get_by_label("Their e-mail").fill("edda@x.example")
    finder = page.get_by_role("group", name="The contact in the CRM")
    finder.get_by_label("Find by name, e-mail or phone").fill("Edda")
    finder.get_by_label("Find by name, e-mail or phone").press("Enter")  # searches, not sends
    expect(page).to_have_url(re.compile(r"/privacy/requests/new$"))  # nothing was sent
    finder.get_by_role("radio", name="Edda Erased").check()  # the person, not a number
    screenshot(page, "privacy-request-finder")
    page.get_by_role("button", name="Record the request").click()

    expect(page.get_by_text("Request recorded; it is due on")).to_be_visible()
    expect(page.get_by_text("Verify the requester's identity first.")).to_be_visible()
    page.get_by_role("button", name="Identity verified: start").click()
    page.get_by_role("button", name="Erase now").click()
    request_path = re.sub(r"^https?://[^/]+", "", page.url).split("?")[0]

    expect(page.get_by_text("Erased. Redact the mentions listed below, if any.")).to_be_visible()
    expect(page.get_by_role("heading", name="Mentions to redact")).to_be_visible()
    page.get_by_role("link", name="company").first.click()
    expect(page.get_by_text("Edda Erased is our fan")).to_be_visible()
    page.go_back()
    page.get_by_role("button", name="Redacted").click()
    expect(page.get_by_text("Marked as redacted.")).to_be_visible()

    page.goto(f"{live_server.url}/contacts/{contact_id}")
    expect(page.get_by_text("No such contact.")).to_be_visible()
    page.goto(f"{live_server.url}/privacy?closed=true")
    # Other tests on the shared server close requests too: this one's row.
    row = page.locator("tr", has=page.locator(f'a[href="{request_path}"]'))
    expect(row.get_by_role("cell", name="(erased)")).to_be_visible()
