"""Scheduled housekeeping for the users domain."""

from datetime import timedelta

from sqlalchemy import Engine

from crm.core import idempotency
from crm.core.db import default_engine, job_session, utcnow
from crm.users import service as user_service

LOGIN_ATTEMPT_RETENTION = timedelta(days=1)


def purge_login_attempts(engine: Engine | None = None) -> int:
    """Drop failed-login records once they can no longer cause a lockout (they hold IPs)."""
    with job_session(engine or default_engine()) as session:
        return user_service.purge_login_attempts(session, before=utcnow() - LOGIN_ATTEMPT_RETENTION)


def purge_idempotency_keys(engine: Engine | None = None) -> int:
    """Forget the API's idempotency keys after a day: a retry comes within minutes."""
    with job_session(engine or default_engine()) as session:
        return idempotency.purge(session)
