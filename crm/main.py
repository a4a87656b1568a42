"""The application factory: middleware, routers, error handlers and static files."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlmodel import Session

from crm.contacts import routes as contact_routes
from crm.core import handlers
from crm.core import routes as core_routes
from crm.core.db import (
    StatementCounter,
    admitted,
    count_statements,
    job_session,
    make_engine,
    read_only,
)
from crm.core.errors import ERROR_RESPONSES
from crm.core.i18n import LocaleMiddleware
from crm.core.inputs import clean_text
from crm.core.observe import Metrics, RequestLog
from crm.core.security import (
    BodySizeLimit,
    SecurityHeadersMiddleware,
    SessionMiddleware,
    csrf_protect,
)
from crm.core.settings import Settings, get_settings
from crm.deals import pages as deal_pages
from crm.deals import routes as deal_routes
from crm.followups import pages as followup_pages
from crm.followups import routes as followup_routes
from crm.followups import rule_pages as followup_rule_pages
from crm.followups import rules as followup_rules
from crm.gdpr import consent_pages as gdpr_consent_pages
from crm.gdpr import pages as gdpr_pages
from crm.gdpr import register_pages as gdpr_register_pages
from crm.gdpr import routes as gdpr_routes
from crm.home import guide
from crm.home import routes as home_routes
from crm.imports import routes as import_routes
from crm.imports.runner import ImportRunner
from crm.journeys import pages as journey_pages
from crm.journeys import routes as journey_routes
from crm.mail import own_routes as mail_own_routes
from crm.mail import routes as mail_routes
from crm.mail import send_routes as mail_send_routes
from crm.mail import template_routes as mail_template_routes
from crm.scheduler import EmbeddedScheduler
from crm.touchpoints import routes as touchpoint_routes
from crm.users import routes as user_routes

STATIC_DIR = Path(__file__).resolve().parent / "static"


# Every router the app serves, in the order they are matched; the authorisation test walks it.
ROUTERS = (
    core_routes.router,
    home_routes.router,
    home_routes.api_router,
    user_routes.router,
    user_routes.api_router,
    contact_routes.router,
    contact_routes.api_router,
    touchpoint_routes.router,
    touchpoint_routes.api_router,
    import_routes.router,
    import_routes.api_router,
    journey_pages.router,
    journey_routes.api_router,
    deal_pages.router,
    deal_routes.api_router,
    followup_pages.router,
    followup_rule_pages.router,
    followup_routes.api_router,
    gdpr_pages.router,
    gdpr_consent_pages.router,
    gdpr_register_pages.router,
    gdpr_routes.api_router,
    mail_routes.router,
    mail_routes.api_router,
    mail_send_routes.router,
    mail_send_routes.api_router,
    mail_template_routes.router,
    mail_template_routes.api_router,
    mail_own_routes.router,
    mail_own_routes.api_router,
)


def serving_app(*, with_scheduler: bool = False) -> FastAPI:
    """The app as `crm serve` runs it (also uvicorn's factory for several workers)."""
    app = create_app(with_scheduler=with_scheduler)
    # The objects made at start-up live as long as the process: keeping them out of the
    # garbage collector's full runs takes 100 ms pauses out of the slowest requests.
    gc.collect()
    gc.freeze()
    # A list page makes and drops thousands of objects: collecting the young ones after
    # every 7,000 instead of 700 allocations halved the collector's share of a request's
    # time and kept its full runs (over 20 ms each) out of the load test (bench/RESULTS.md).
    gc.set_threshold(7_000, 10, 10)
    return app


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    with_scheduler: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        app.state.admission = anyio.Semaphore(settings.threads)
        scheduler = EmbeddedScheduler(settings) if with_scheduler else None
        if scheduler is not None:
            scheduler.start()
        app.state.importer.wake()  # resume imports a restart interrupted
        yield
        app.state.importer.stop()
        if scheduler is not None:
            scheduler.shutdown()
        engine.dispose()

    app = FastAPI(
        title="CRM",
        summary="Customer journeys, touchpoints, deals, follow-ups and privacy.",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[
            Depends(admitted, scope="function"),
            Depends(clean_text),
            Depends(csrf_protect),
        ],
        openapi_url="/api/openapi.json",
        # The interactive docs load their scripts from a CDN; the JSON document suffices.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.reading_engine = read_only(engine)  # made once: every page reads through it
    # For answers streamed after the request's own session has ended (CSV exports).
    app.state.reading_session = lambda: Session(app.state.reading_engine, expire_on_commit=False)
    # Small writes a read request needs in a transaction of their own (API token use).
    app.state.write_session = lambda: job_session(engine)
    app.state.importer = ImportRunner(lambda: job_session(engine))

    # Added innermost first: security headers wrap everything, then the session.
    app.add_middleware(
        LocaleMiddleware,
        default_language=settings.default_language,
        time_zone=settings.time_zone,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        max_age=settings.session_max_age_days * 24 * 3600,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.metrics = Metrics()
    app.state.metrics.collectors.append(followup_rules.run_metrics)
    app.add_middleware(RequestLog, metrics=app.state.metrics)
    # Far above any form or import: the import's own limit answers with a clear message.
    app.add_middleware(BodySizeLimit, max_bytes=4 * settings.import_max_mb * (1 << 20))
    if settings.count_statements:
        count_statements(engine)
        app.add_middleware(StatementCounter)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/help/guide/images", StaticFiles(directory=guide.IMAGES_DIR), name="guide-images")
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    handlers.install(app)
    logging.getLogger("crm").setLevel(logging.INFO)
    return app
