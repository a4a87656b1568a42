"""Cross-cutting behaviour of the app: headers, errors, health, static files."""

import gc
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio.to_thread
import pytest
from babel import Locale
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session

from crm import main
from crm.core.db import SessionDep
from crm.core.errors import Conflict
from crm.core.i18n import translations
from crm.core.templating import environment
from crm.main import create_app
from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests.conftest import login
from tests.factories import make_token, make_user


def test_the_app_serves_as_many_requests_at_once_as_configured(app, settings):
    settings.threads = 3
    with TestClient(app) as client:
        limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)
        assert limiter.total_tokens == 3
        # As many requests are let in as there are threads: the deadlock of too few
        # threads for the requests holding the database is in tests/system/test_load.py.
        assert app.state.admission.value == 3


def test_the_served_app_keeps_its_start_up_objects_out_of_full_collections(monkeypatch):
    monkeypatch.setattr(main, "create_app", lambda **_: "the app")
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        assert main.serving_app() == "the app"
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] > thresholds[0]  # young objects collected less often
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_security_headers_are_on_every_answer(client):
    for path in ("/login", "/does-not-exist", "/healthz", "/static/css/crm.css"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"


def test_healthz_reports_a_reachable_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_healthz_reports_503_when_the_database_is_gone(settings):
    broken = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    response = TestClient(create_app(settings, engine=broken)).get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_database_errors_in_requests_become_503_with_a_message(settings):
    broken = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    app = create_app(settings, engine=broken)
    response = TestClient(app).get("/api/v1/me", headers={"Authorization": "Bearer crm_x"})
    assert response.status_code == 503
    assert "cannot be reached" in response.json()["detail"]


def test_unknown_pages_are_friendly_404_pages_and_json_under_api(client):
    page = client.get("/nowhere")
    assert page.status_code == 404 and "<html" in page.text
    assert "This page does not exist." in page.text
    api = client.get("/api/v1/nowhere")
    assert api.status_code == 404 and api.json() == {"detail": "This page does not exist."}


@pytest.mark.server_error
def test_unexpected_errors_are_a_friendly_500(settings, engine):
    app = create_app(settings, engine=engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "RuntimeError" not in response.text


def test_a_failed_request_writes_nothing(settings, engine):
    """The real session dependency rolls back what a failing request flushed."""
    app = create_app(settings, engine=engine)

    @app.post("/api/v1/fails-late")
    def fails_late(db: SessionDep) -> None:
        user_service.create_user(
            db,
            data=UserCreate(email="late@example.com", name="L", roles={Role.DPO}),
            password="0123456789",
            actor_id=None,
        )
        raise Conflict("late")

    response = TestClient(app).post("/api/v1/fails-late")
    assert response.status_code == 409 and response.json() == {"detail": "late"}
    with Session(engine) as fresh:
        assert user_service.get_user_by_email(fresh, email="late@example.com") is None


def test_a_number_the_database_cannot_hold_is_refused_with_a_message(client, session):
    bearer = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    answer = client.post(
        "/api/v1/touchpoints", json={"summary": "x", "contact_id": 2**70}, headers=bearer
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] in (
        "A number or a text in the request is out of range.",  # SQLite cannot bind it
        "No such contact.",  # PostgreSQL compares it and finds none
    )


def test_static_files_include_vendored_htmx_with_its_licence(client):
    assert client.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert "BSD" in client.get("/static/vendor/htmx/LICENSE").text


def test_the_base_layout_configures_htmx_and_the_csrf_header(client, session):
    user = make_user(session)
    login(client, user.email)
    page = client.get("/").text
    assert '"historyRestoreAsHxRequest": false' in page
    assert '{"code": "422", "swap": true}' in page
    assert 'hx-headers=\'{"X-CSRF-Token": "' in page
    assert "<script>" not in page  # no inline scripts: the CSP would block them


def test_dates_and_numbers_follow_the_locale():
    template = environment.from_string("{{ when|datetime('short') }} {{ amount|number }}")
    when = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
    for locale, expected in (
        ("de", "23.11.26, 10:05 1.234,5"),
        ("de_CH", "23.11.26, 10:05 1&#39;234.5"),  # autoescaped
        ("en", "11/23/26, 10:05\u202fAM 1,234.5"),
        ("en_GB", "23/11/2026, 10:05 1,234.5"),
    ):
        rendered = template.render(
            when=when,
            amount=1234.5,
            locale=Locale.parse(locale),
            time_zone=ZoneInfo("Europe/Berlin"),
            translations=translations(locale[:2]),
        )
        assert rendered == expected


def test_pages_write_dates_as_the_browser_asks(client, session):
    """The language is the user's; the way its dates are written is the browser's."""
    user = make_user(session, name="Gina Greenwich")
    make_token(session, user, name="Laptop")
    login(client, user.email)
    for header, written in (
        ("en-GB,en;q=0.9", r"\d\d/\d\d/\d{4}, \d\d:\d\d"),
        ("en-US,en;q=0.9", r"\d\d?/\d\d?/\d\d, \d\d?:\d\d\u202f[AP]M"),
    ):
        page = client.get("/profile", headers={"Accept-Language": header})
        row = r"<td>Laptop</td>\s*<td><code>.*?</code></td>\s*<td>([^<]+)</td>"
        created = re.search(row, page.text)
        assert created and re.fullmatch(written, created.group(1)), (header, created)


def test_statement_counting_is_off_unless_asked_for(client, settings, engine):
    assert "x-sql-statements" not in client.get("/healthz").headers
    counting = create_app(settings.model_copy(update={"count_statements": True}), engine=engine)
    response = TestClient(counting).get("/api/v1/me", headers={"Authorization": "Bearer crm_x"})
    assert response.status_code == 401
    assert int(response.headers["x-sql-statements"]) >= 1


def test_the_api_reference_is_served_without_the_internet(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert '<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"' in page.text
    assert "<script>" not in page.text and "https://" not in page.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/contacts" in spec["paths"] and "/api/v1/touchpoints" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"HTTPBearer": []} in spec["paths"]["/api/v1/contacts"]["get"]["security"]


def test_one_log_line_per_request_without_personal_data(client, session, caplog):
    import json
    import logging

    from tests.conftest import login
    from tests.factories import make_contact, make_user

    rep = make_user(session)
    contact = make_contact(session)
    login(client, rep.email)
    caplog.set_level(logging.INFO, logger="crm.request")
    caplog.clear()
    answer = client.get(f"/contacts/{contact.id}?q=secret.person@example.com")
    assert answer.status_code == 200 and answer.headers["x-request-id"]
    (line,) = [json.loads(r.message) for r in caplog.records if r.name == "crm.request"]
    assert line == {
        "request_id": answer.headers["x-request-id"],
        "user_id": rep.id,
        "method": "GET",
        "route": "/contacts/{contact_id}",
        "status": 200,
        "ms": line["ms"],
    }
    assert "secret.person" not in caplog.text
    given = client.get("/healthz", headers={"X-Request-ID": "from-the-proxy-1"})
    assert given.headers["x-request-id"] == "from-the-proxy-1"


def test_metrics_in_prometheus_format_for_admins(client, session):
    from crm.users.models import Role
    from tests.conftest import login
    from tests.factories import make_user

    rep, admin = make_user(session), make_user(session, roles=(Role.ADMIN,))
    login(client, rep.email)
    assert client.get("/metrics").status_code == 403
    login(client, admin.email)
    client.get("/contacts")
    text = client.get("/metrics").text
    assert 'crm_requests_total{method="GET",route="/contacts",status="200"}' in text
    assert 'crm_request_duration_seconds_bucket{le="+Inf",method="GET",route="/contacts"}' in text
    assert "crm_followup_runs_total " in text


def test_a_scraper_reads_metrics_with_an_admins_token(client, session):
    from crm.users.models import Role
    from tests.factories import make_token, make_user

    admin, rep = make_user(session, roles=(Role.ADMIN,)), make_user(session)
    scraped = client.get(
        "/metrics", headers={"Authorization": f"Bearer {make_token(session, admin)}"}
    )
    assert scraped.status_code == 200 and "crm_requests_total" in scraped.text
    refused = client.get(
        "/metrics", headers={"Authorization": f"Bearer {make_token(session, rep)}"}
    )
    assert refused.status_code == 403


def test_every_schema_of_the_api_has_a_name_of_its_own(client):
    # Two models of one name get mangled names (Name-Input, crm__module__Name): clients
    # would see those instead of the model's name.
    names = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert [name for name in names if "-" in name or name.startswith("crm__")] == []
