"""The one error type services raise; the web layer turns it into a status code.

Messages are English msgids (marked with ``N_``) and translated when rendered, so
that services stay free of the request's language.
"""

from typing import Any


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


class TooManyRequests(CRMError):
    status_code = 429

    def __init__(self, message: str, /, *, retry_after: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class Unavailable(CRMError):
    status_code = 503
