"""What `crm serve` logs holds no personal data."""

import logging
import logging.config
import sys

from crm.core.logs import server_log_config

LOGGERS = ("crm", "apscheduler", "uvicorn", "uvicorn.access")


def test_the_server_config_sends_the_crm_logs_to_the_console(capsys):
    logging.config.dictConfig(server_log_config())
    try:
        logging.getLogger("crm").info("crm logs reach the console")
    finally:  # leave no handler on pytest's captured streams
        plain = {"handlers": [], "propagate": True, "level": "NOTSET"}
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": dict.fromkeys(LOGGERS, plain),
            }
        )
    assert "crm logs reach the console" in capsys.readouterr().err


def test_database_errors_are_logged_without_the_values_they_quote(engine):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from crm.core.logs import PrivateDatabaseErrors

    try:
        with engine.connect() as conn:
            conn.execute(
                text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "anna@example.com"}
            )
    except DBAPIError as exc:
        error = exc
    # The engine hides statement parameters from the error's text ...
    assert "anna@example.com" not in str(error)
    # ... and the log filter drops the driver's message, which may quote a row's values.
    try:
        raise error
    except DBAPIError:
        record = logging.LogRecord("crm", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert PrivateDatabaseErrors().filter(record)
    text_ = logging.Formatter().format(record)
    assert "values withheld" in text_ and "no_such_table" not in text_
    assert "test_logs.py" in text_  # where it happened stays
