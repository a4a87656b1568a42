"""The one error type services raise; the web layer turns it into a status code.

Messages are English msgids (marked with ``N_``) and translated when rendered, so
that services stay free of the request's language.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


class CRMError(Exception):
    status_code = 400

    def __init__(self, message: str, /, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params
        # Machine-readable facts for API clients, e.g. the id of an existing duplicate.
        self.details: dict[str, Any] = {}


class BadRequest(CRMError):
    status_code = 400


class NotAuthenticated(CRMError):
    status_code = 401


class Forbidden(CRMError):
    status_code = 403


class NotFound(CRMError):
    status_code = 404


class Conflict(CRMError):
    status_code = 409


class Stale(Conflict):
    """An edit of a version that someone else has changed since."""

    def __init__(self, *, current_version: int) -> None:
        super().__init__(
            N_("Someone else changed this record since you opened it; nothing was changed.")
        )
        self.details["current_version"] = current_version


def check_version(row: Any, expected: int | None) -> None:
    """Refuse an edit made to an older version of ``row`` (None: the caller did not say)."""
    if expected is not None and expected != row.version:
        raise Stale(current_version=row.version)


class Invalid(CRMError):
    """Input that fails a rule; ``field`` names the form field it belongs to."""

    status_code = 422

    def __init__(self, message: str, /, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field
        if field:
            self.details["field"] = field


class TooLarge(Invalid):
    """An upload over its limit."""

    status_code = 413


class TooManyRequests(CRMError):
    status_code = 429

    def __init__(self, message: str, /, *, retry_after: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class Unavailable(CRMError):
    status_code = 503


class Problem(BaseModel):
    """What the API answers when it refuses a request."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[dict[str, Any]] = Field(
        description="What went wrong; for a body or parameter the API could not read, "
        "the list of the fields at fault."
    )
    field: str | None = Field(default=None, description="The input field at fault, if one is.")


# Documented on every API operation: the document says what a client may meet.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": description}
    for code, description in (
        (400, "The request could not be understood (a broken cursor, say)."),
        (401, "No valid API token was sent."),
        (403, "The token's user may not do this."),
        (404, "The record does not exist."),
        (409, "The change conflicts with the record's state or a newer version."),
        (413, "The upload is too large."),
        (422, "The input is not valid."),
        (429, "Too many requests; try again after Retry-After seconds."),
        (503, "The database or the mail server cannot be reached at the moment."),
        (507, "The server's disk is full; nothing was saved."),
    )
}
