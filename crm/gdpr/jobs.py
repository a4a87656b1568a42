"""Scheduled work of the GDPR module."""

from sqlalchemy import Engine

from crm.core.db import default_engine, job_session
from crm.gdpr import cases


def flag_due_requests(engine: Engine | None = None) -> int:
    """Daily: mark the open requests due within 7 days, so the DPO's list shows them."""
    with job_session(engine or default_engine()) as session:
        return cases.flag_due_soon(session)
