"""The one error handler (DESIGN.md rule 4): JSON for /api, a message fragment for
htmx, a full page otherwise."""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm.core.errors import N_, Conflict, CRMError, Invalid, NotAuthenticated, TooManyRequests
from crm.core.i18n import translations
from crm.core.templating import render

log = logging.getLogger("crm")

STATUS_MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please log in."),
    403: N_("You do not have permission to do this."),
    404: N_("This page does not exist."),
    405: N_("This action is not allowed here."),
    422: N_("Some of the input is not valid."),
    429: N_("Too many requests. Please wait a moment."),
    500: N_("Something went wrong on our side. The error has been logged."),
    503: N_("The database cannot be reached at the moment. Please try again shortly."),
    507: N_("The disk is full: nothing was saved. Free some space, then try again."),
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def translate(request: Request, message: str, params: dict[str, Any] | None = None) -> str:
    text = translations(getattr(request.state, "language", "en")).gettext(message)
    return text % params if params else text


def error_response(
    request: Request,
    status_code: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status_code, headers=headers)
    if is_htmx(request):
        # Show the message in the page's message area, whatever the request targeted.
        headers = {**(headers or {}), "HX-Retarget": "#messages", "HX-Reswap": "innerHTML"}
        return render(
            request,
            "errors/error.html",
            {"status_code": status_code, "message": message},
            status_code=status_code,
            block="message",
            headers=headers,
        )
    return render(
        request,
        "errors/error.html",
        {"status_code": status_code, "message": message},
        status_code=status_code,
        headers=headers,
    )


def _login_redirect(request: Request, message: str) -> Response:
    if is_api(request):
        return error_response(request, 401, message, headers={"WWW-Authenticate": "Bearer"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='')}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CRMError)
    message = translate(request, exc.message, exc.params)
    if isinstance(exc, NotAuthenticated):
        return _login_redirect(request, message)
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    if is_api(request) and exc.details:
        return JSONResponse(
            {"detail": message, **exc.details}, status_code=exc.status_code, headers=headers
        )
    return error_response(request, exc.status_code, message, headers=headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_api(request):
        return error_response(request, 422, translate(request, STATUS_MESSAGES[422]))
    # What was sent is not echoed back: it may be personal, or text no encoder takes.
    problems = [
        {key: value for key, value in error.items() if key != "input"} for error in exc.errors()
    ]
    content: dict[str, Any] = {"detail": jsonable_encoder(problems)}
    fields = {".".join(map(str, error["loc"][1:])) for error in problems if len(error["loc"]) > 1}
    if len(fields) == 1:
        content["field"] = fields.pop()
    return JSONResponse(content, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = STATUS_MESSAGES.get(exc.status_code)
    text = translate(request, message) if message else str(exc.detail)
    return error_response(request, exc.status_code, text, headers=exc.headers)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    if "disk is full" in str(getattr(exc, "orig", exc)):  # SQLite's SQLITE_FULL
        return error_response(request, 507, translate(request, STATUS_MESSAGES[507]))
    return error_response(
        request, 503, translate(request, STATUS_MESSAGES[503]), headers={"Retry-After": "5"}
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    try:
        return error_response(request, 500, translate(request, STATUS_MESSAGES[500]))
    except Exception:  # the error page itself failed: answer with the plainest page
        log.exception("the error page failed to render")
        return HTMLResponse("<h1>500</h1><p>Something went wrong on our side.</p>", status_code=500)


async def concurrent_edit(request: Request, exc: Exception) -> Response:
    """Two writers changed one versioned row at the same moment: the later one lost."""
    message = N_("Someone else changed this record at the same moment; nothing was changed.")
    return await crm_error(request, Conflict(message))


async def out_of_range(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold: a number too large for SQLite's driver to bind
    or for a PostgreSQL integer column, a NUL character in a text for PostgreSQL."""
    log.info(
        "value out of range on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return await crm_error(
        request, Invalid(N_("A number or a text in the request is out of range."))
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(CRMError, crm_error)
    app.add_exception_handler(StaleDataError, concurrent_edit)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)
    app.add_exception_handler(Exception, server_error)
