"""The page frame at the sizes people use: a laptop (1366 px) and a phone (390 px)."""

import re

from playwright.sync_api import Page, expect

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.users.models import Role

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_EMAIL = "friederike.mustermann-oberhausen@vertrieb.grosshandel-beispiel.example"


def log_in_german_admin(live_server, page: Page, email: str) -> None:
    """An administrator sees the longest menu, and German has its longest words."""
    live_server.log_in_as_new_user(
        page, email=email, name="Hedwig Hausherr", role=set(Role), language="de"
    )
    expect(page.get_by_role("heading", name="Willkommen, Hedwig Hausherr")).to_be_visible()


def menu_rows(page: Page) -> int:
    """How many lines the main menu takes."""
    return page.evaluate(
        "new Set([...document.querySelectorAll('nav[aria-label] li')]"
        ".map(li => Math.round(li.getBoundingClientRect().top))).size"
    )


def overflow(page: Page) -> int:
    """How far the page reaches past the window's right edge, in pixels."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_menu_keeps_to_one_row_on_a_laptop_and_on_a_phone(live_server, page: Page, screenshot):
    page.set_viewport_size(LAPTOP)
    log_in_german_admin(live_server, page, "hedwig.laptop@example.com")
    assert menu_rows(page) == 1
    bar = page.locator("header.topbar").bounding_box()
    assert bar and bar["height"] < 80, bar  # brand, menu, search and account on one line

    page.set_viewport_size(PHONE)
    page.reload()
    assert menu_rows(page) == 1  # it scrolls sideways instead of wrapping
    assert overflow(page) == 0
    screenshot(page, "home-admin-phone-de")
    menu = page.get_by_role("navigation", name="Hauptnavigation")
    menu.get_by_role("link", name="Benutzer").scroll_into_view_if_needed()
    menu.get_by_role("link", name="Benutzer").click()
    expect(page.get_by_role("heading", name="Benutzer", exact=True)).to_be_visible()


def test_the_account_menu_opens_and_closes_like_a_menu(live_server, page: Page):
    page.set_viewport_size(LAPTOP)
    log_in_german_admin(live_server, page, "hedwig.menu@example.com")
    account = page.locator("summary", has_text="Hedwig Hausherr")
    profile = page.get_by_role("link", name="Profil")
    expect(profile).to_be_hidden()
    account.click()
    expect(profile).to_be_visible()
    page.keyboard.press("Escape")
    expect(profile).to_be_hidden()
    expect(account).to_be_focused()
    account.click()
    page.get_by_role("heading", name="Willkommen, Hedwig Hausherr").click()
    expect(profile).to_be_hidden()
    account.click()
    profile.click()
    expect(page.get_by_role("heading", name="Ihr Profil")).to_be_visible()


def test_the_search_dropdown_is_readable(live_server, page: Page):
    with live_server.session() as session:
        contact_service.create_contact(
            session, data=ContactCreate(first_name="Quirin", last_name="Quellwasser"), actor_id=None
        )
        session.commit()
    page.set_viewport_size(LAPTOP)
    live_server.log_in_as_new_user(
        page, email="searcher@example.com", name="Sina Searcher", role=Role.SALES_REP
    )
    page.get_by_role("searchbox", name="Search contacts, companies and deals").fill("Quellw")
    hit = page.locator("#search-results").get_by_role("link", name="Quirin Quellwasser")
    expect(hit).to_be_visible()
    colours = page.evaluate(
        """() => {
            const box = getComputedStyle(document.getElementById('search-results'));
            const of = sel => getComputedStyle(document.querySelector(sel)).color;
            return {
                background: box.backgroundColor,
                link: of('#search-results a'),
                heading: of('#search-results .search-group'),
            };
        }"""
    )
    assert colours["background"] == "rgb(255, 255, 255)"
    assert colours["link"] != colours["background"]
    assert colours["heading"] != colours["background"]


def test_a_contact_with_a_long_address_fits_a_phone(live_server, page: Page, screenshot):
    with live_server.session() as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(
                first_name="Friederike", last_name="Mustermann-Oberhausen", emails=[LONG_EMAIL]
            ),
            actor_id=None,
        )
        session.commit()
    page.set_viewport_size(PHONE)
    live_server.log_in_as_new_user(
        page, email="phone.user@example.com", name="Pia Phone", role=Role.ACCOUNT_MANAGER
    )
    page.goto(f"{live_server.url}/contacts/{contact.id}")
    expect(page.get_by_role("link", name=LONG_EMAIL)).to_be_visible()
    assert overflow(page) == 0
    # The browser asks for en-GB: the date is written day first, on a 24-hour clock.
    added = page.locator("dt", has_text="Added").locator("xpath=following-sibling::dd[1]")
    expect(added).to_have_text(re.compile(r"^\d\d/\d\d/\d{4}, \d\d:\d\d$"))
    screenshot(page, "contact-phone")
