"""Shared fixtures.

The suite runs on SQLite, or on PostgreSQL when ``CRM_TEST_DATABASE_URL`` is set. The
schema comes from the migrations; each test runs inside a transaction that is rolled
back at its end, and the app's request sessions join it through savepoints.
"""

import io
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, make_url
from sqlmodel import Session

from crm.cli import alembic_config
from crm.core.db import committing, get_session, job_session, make_engine
from crm.core.settings import Settings
from crm.deals import service as deal_service
from crm.gdpr import service as gdpr_service
from crm.imports.runner import InlineRunner
from crm.journeys import service as journey_service
from crm.main import create_app
from crm.touchpoints import service as touchpoint_service
from tests.factories import PASSWORD
from tests.smtp_submission import submission  # noqa: F401 (a fixture for every test)

TEST_DATABASE_URL = os.environ.get("CRM_TEST_DATABASE_URL")
TEST_SECRET = "test-secret-" + "x" * 40


def make_settings(var_dir: Any, database_url: str) -> Settings:
    return Settings(
        environment="test",
        var_dir=var_dir,
        database_url=database_url,
        secret_key=TEST_SECRET,
        run_scheduler=False,
    )


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var_dir = tmp_path_factory.mktemp("var")
    return make_settings(var_dir, TEST_DATABASE_URL or f"sqlite:///{var_dir / 'test.sqlite3'}")


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    from alembic import command

    command.upgrade(alembic_config(settings.database_url), "head")
    engine = make_engine(settings.database_url)
    with job_session(engine) as session:
        touchpoint_service.seed_defaults(session)
        journey_service.seed_defaults(session)
        deal_service.seed_defaults(session)
        gdpr_service.seed_defaults(session)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


def _joined_session(connection: Connection) -> Session:
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with _joined_session(connection) as session:
        yield session


@pytest.fixture
def app(settings: Settings, engine: Engine, connection: Connection) -> FastAPI:
    app = create_app(settings, engine=engine)

    def joined_session(request: Request) -> Iterator[Session]:
        with committing(_joined_session(connection)) as session:
            yield session

    app.dependency_overrides[get_session] = joined_session
    # A reading session writes nothing and may open before the request's session ends (a
    # download's first part): it joins the test's transaction without a savepoint.
    app.state.reading_session = lambda: Session(
        bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False
    )
    app.state.write_session = lambda: committing(_joined_session(connection))
    # Imports run at once, in the test's transaction, instead of in a thread.
    app.state.importer = InlineRunner(lambda: committing(_joined_session(connection)))
    return app


@pytest.fixture
def open_session(connection: Connection) -> Any:
    """What jobs get: a factory of sessions that commit (here: release a savepoint)."""
    return lambda: committing(_joined_session(connection))


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/login") -> str:
    match = CSRF_INPUT.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def post_form(
    client: TestClient, path: str, data: dict[str, Any] | None = None, *, form_page: str = "/"
) -> Any:
    """POST a form the way the browser does, with the page's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, form_page)})


@contextmanager
def fresh_database(tmp_path: Any, name: str) -> Iterator[str]:
    """The URL of an empty database on the backend under test, dropped afterwards."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / (name + '.sqlite3')}"
        return
    server = make_url(TEST_DATABASE_URL)
    database = f"{server.database}_{name}_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        yield server.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


# Every address the tests make ends in one of these; none may reach a log.
TEST_ADDRESS = re.compile(r"[\w.+-]+@(?:[\w-]+\.)*example(?:\.com)?\b", re.IGNORECASE)


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_logs() -> Iterator[None]:
    """Reads everything the CRM logs during the whole run, and fails the run when a
    test's e-mail address shows up in it (logs never hold personal data)."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    watched = [logging.getLogger(name) for name in ("crm", "uvicorn", "apscheduler")]
    for logger in watched:
        logger.addHandler(handler)
    yield
    for logger in watched:
        logger.removeHandler(handler)
    leaked = sorted(set(TEST_ADDRESS.findall(written.getvalue())))
    assert leaked == [], f"personal data in the logs: {leaked[:5]}"


class _ServerErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("unhandled error on"):
            self.seen.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails any test during which the app answered a 500 (the error handler logs each),
    whatever the test itself asserted: no input may be a server error."""
    errors = _ServerErrors()
    logger = logging.getLogger("crm")
    logger.addHandler(errors)
    yield
    logger.removeHandler(errors)
    if errors.seen and request.node.get_closest_marker("server_error") is None:
        pytest.fail(f"the app answered with a server error: {errors.seen[:3]}")
