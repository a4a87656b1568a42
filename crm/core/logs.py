"""Logging for `crm serve`: what the server writes must hold no personal data.

uvicorn's access log, which would record each request's query string (searches, e-mail
addresses given to the merge screen, the `next` of a login redirect) and the client's
address, is off: the request log (`crm.core.observe.RequestLog`) writes each request's
line without them. A database error's text quotes the values at fault (PostgreSQL:
"Key (email)=(anna@example.com) already exists"); logged errors keep their kind and
traceback without it.
"""

import copy
import logging
import traceback
from typing import Any

from sqlalchemy.exc import DBAPIError
from uvicorn.config import LOGGING_CONFIG


class PrivateDatabaseErrors(logging.Filter):
    """Replaces a logged database error's message (which may quote a row's values) by
    its kind; the traceback, which shows where it happened, stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DBAPIError):
            error, trace = record.exc_info[1], record.exc_info[2]
            kind = f"{type(error).__name__} ({type(error.orig).__name__}); values withheld"
            record.exc_text = (
                "Traceback (most recent call last):\n" + "".join(traceback.format_tb(trace)) + kind
            )
            record.exc_info = None
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's own configuration, with the database error filter and our loggers added."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"private_database_errors": {"()": PrivateDatabaseErrors}}
    config["handlers"]["default"]["filters"] = ["private_database_errors"]
    for name in ("crm", "apscheduler"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
