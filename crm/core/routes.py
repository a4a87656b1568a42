"""Pages and endpoints that belong to no domain: API docs, health and metrics."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from crm.core import db
from crm.core.db import SessionDep
from crm.core.templating import render
from crm.users.deps import AdminUser

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The JSON API's reference, from its OpenAPI document (vendored Swagger UI)."""
    return render(request, "api_docs.html")


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    if db.ping(request.app.state.engine):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


@router.get("/metrics")
def metrics(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    """Request counts and latencies of this process, and the scheduler's rule runs, in
    Prometheus' text format; for administrators (a scraper uses an admin's API token)."""
    return Response(
        request.app.state.metrics.render(session),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
