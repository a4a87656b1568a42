"""Logging for `crm serve`: what the server writes must hold no personal data.

uvicorn's access log would record each request's query string (searches, e-mail
addresses given to the merge screen, the `next` of a login redirect) and the client's
address; both are dropped here, in every worker.
"""

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class PrivateAccessLog(logging.Filter):
    """Keeps method, path and status of an access-log record; drops the query and client."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            _client, method, path, http_version, status = record.args
            record.args = ("-", method, str(path).split("?", 1)[0], http_version, status)
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's own configuration, with the access filter and our loggers added."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"private_access": {"()": PrivateAccessLog}}
    config["handlers"]["access"]["filters"] = ["private_access"]
    for name in ("crm", "apscheduler"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
