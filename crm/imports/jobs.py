"""Scheduled housekeeping for imports."""

from sqlalchemy import Engine

from crm.core.db import default_engine, job_session, utcnow
from crm.imports import service as import_service


def purge_imports(engine: Engine | None = None) -> int:
    """Drop finished imports after a while: their problem reports hold personal data."""
    with job_session(engine or default_engine()) as session:
        return import_service.purge_finished(
            session, before=utcnow() - import_service.FINISHED_KEPT
        )
