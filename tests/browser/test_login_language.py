"""A person logs in, switches the CRM to German, sees it in German, and logs out."""

import re

from playwright.sync_api import Browser, Page, expect

from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests.browser.conftest import ConsoleErrors


def test_login_switch_to_german_and_logout(live_server, page: Page):
    with live_server.session() as session:
        user_service.create_user(
            session,
            data=UserCreate(
                email="greta@example.com", name="Greta Browser", roles={Role.ACCOUNT_MANAGER}
            ),
            password="browser password",
            actor_id=None,
        )
        session.commit()

    page.goto(live_server.url + "/profile")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fprofile$"))
    page.get_by_label("E-mail").fill("greta@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")

    page.get_by_label("Password").fill("browser password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + "/profile")
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()

    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("heading", name="Ihr Profil")).to_be_visible()
    expect(page.get_by_text("Einstellungen gespeichert.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.get_by_role("link", name="Start").click()
    expect(page.get_by_role("heading", name="Willkommen, Greta Browser")).to_be_visible()

    page.locator("summary", has_text="Greta Browser").click()  # the account menu
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_text("Sie wurden abgemeldet.")).to_be_visible()
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_login_page_loads_its_scripts_under_the_content_security_policy(
    live_server, page: Page
):
    """The `page` fixture fails the test on a console error, a refused script included."""
    page.goto(live_server.url + "/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.wait_for_function("() => window.htmx !== undefined")


def test_the_console_check_catches_what_the_policy_refuses(live_server, browser: Browser):
    """The check the `page` fixture makes can fail: an inline style is refused and seen."""
    context = browser.new_context(locale="en-GB")
    try:
        page = context.new_page()
        errors = ConsoleErrors(page)
        page.goto(live_server.url + "/login")
        page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')"
        )
        page.wait_for_timeout(200)
        assert any(
            "violates the following Content Security Policy directive" in found
            for found in errors.found
        ), errors.found
    finally:
        context.close()
