"""A live CRM on 127.0.0.1 and a Chromium driven by Playwright.

The browser is Debian's /usr/bin/chromium (``make test`` installs it); Playwright never
downloads one of its own.
"""

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from alembic import command
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlmodel import Session

from crm.cli import alembic_config
from crm.core.db import job_session, make_engine
from crm.deals import service as deal_service
from crm.gdpr import service as gdpr_service
from crm.journeys import service as journey_service
from crm.main import create_app
from crm.touchpoints import service as touchpoint_service
from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests.conftest import fresh_database, make_settings

CHROMIUM = Path("/usr/bin/chromium")
# `make screenshots` sets this: the user guide's pictures are taken by the browser tests.
GUIDE_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "browser password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, database_url: str) -> None:
        self.url = ""
        self.engine = make_engine(database_url)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def log_in_as_new_user(
        self,
        page: Page,
        *,
        email: str,
        name: str,
        role: Role | set[Role],
        language: str | None = None,
    ) -> None:
        """Create a user with a role (or several) and log the browser in as them."""
        roles = role if isinstance(role, set) else {role}
        with self.session() as session:
            user_service.create_user(
                session,
                data=UserCreate(email=email, name=name, roles=roles, language=language),
                password=PASSWORD,
                actor_id=None,
            )
            session.commit()
        page.goto(self.url + "/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()


@contextmanager
def running_server(var_dir: Path) -> Iterator[LiveServer]:
    """A CRM on a fresh database of its own, served on a free port until the block ends."""
    with fresh_database(var_dir, "live") as database_url:
        command.upgrade(alembic_config(database_url), "head")
        live = LiveServer(database_url)
        with job_session(live.engine) as session:
            touchpoint_service.seed_defaults(session)
            journey_service.seed_defaults(session)
            deal_service.seed_defaults(session)
            gdpr_service.seed_defaults(session)
        app = create_app(make_settings(var_dir, database_url))
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        live.url = f"http://127.0.0.1:{port}"
        try:
            yield live
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            live.engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("live")) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Page, str], None]:
    """Take a picture for the user guide: into docs/images when CRM_GUIDE_SCREENSHOTS is
    set (`make screenshots`), elsewhere into a temporary folder, so that every test run
    proves the pictures can still be taken."""
    folder = (
        GUIDE_IMAGES
        if os.environ.get("CRM_GUIDE_SCREENSHOTS")
        else tmp_path_factory.mktemp("screenshots")
    )

    def take(page: Page, name: str) -> None:
        page.screenshot(path=folder / f"{name}.png", animations="disabled")

    return take


class ConsoleErrors:
    """What a page logged as an error: script errors, refused content, failed loads.

    A 4xx answer to a request the page made on purpose (a form sent with a mistake in
    it) is what the CRM is meant to answer, so that is left out; a 4xx for one of the
    site's own files is not.
    """

    def __init__(self, page: Page) -> None:
        self.found: list[str] = []
        self.page = page
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"{page.url}: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        source = message.location.get("url", "")
        answered = re.search(r"status of 4\d\d", message.text)
        if answered and "/static/" not in source:
            return
        self.found.append(f"{source or self.page.url}: {message.text}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context; the test fails when the page logs a console error."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = ConsoleErrors(page)
    yield page
    context.close()
    assert errors.found == [], "the page logged errors:\n" + "\n".join(errors.found)
