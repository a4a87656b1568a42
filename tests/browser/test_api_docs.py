"""The API reference renders in a browser under the strict Content-Security-Policy (the
`page` fixture fails a test on any console error).

Swagger UI renders a long API lazily, as it is scrolled into view, so the test reaches
each domain through the filter box as a reader would."""

from playwright.sync_api import Page, expect


def test_the_api_reference_renders_every_domain(live_server, page: Page):
    document = page.request.get(live_server.url + "/api/openapi.json").json()
    first_path = {}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            first_path.setdefault(operation["tags"][0], path)
    assert {"contacts", "touchpoints", "mail", "data protection"} <= first_path.keys()

    page.goto(live_server.url + "/docs")
    search = page.get_by_placeholder("Filter by tag")
    expect(search).to_be_visible(timeout=15_000)
    for tag, path in first_path.items():
        search.fill(tag)
        expect(page.locator(f'.opblock-tag[data-tag="{tag}"]')).to_be_visible()
        expect(page.get_by_text(path, exact=True).first).to_be_visible()
