"""The API reference renders in a browser under the strict Content-Security-Policy (the
`page` fixture fails a test on any console error)."""

from playwright.sync_api import Page, expect


def test_the_api_reference_renders_every_domain(live_server, page: Page):
    page.goto(live_server.url + "/docs")
    expect(page.get_by_text("/api/v1/contacts/{contact_id}/timeline").first).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_text("/api/v1/touchpoints", exact=True).first).to_be_visible()
