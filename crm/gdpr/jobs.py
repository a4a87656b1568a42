"""Scheduled work of the GDPR module."""

from sqlalchemy import Engine

from crm.core.db import default_engine, job_session
from crm.core.settings import get_settings
from crm.gdpr import cases, erasure, export, retention


def flag_due_requests(engine: Engine | None = None) -> int:
    """Daily: mark the open requests due within 7 days, so the DPO's list shows them."""
    with job_session(engine or default_engine()) as session:
        return cases.flag_due_soon(session)


def purge_exports(engine: Engine | None = None) -> int:
    """Daily: delete exports older than a week; their download links end with them."""
    with job_session(engine or default_engine()) as session:
        return export.purge_exports(session, directory=get_settings().var_dir / "exports")


def scrub_files(engine: Engine | None = None) -> bool:
    """Daily: what an erasure could not scrub from SQLite's files while others wrote."""
    return erasure.scrub_files(engine or default_engine(), wait_ms=30_000)


def propose_erasures(engine: Engine | None = None) -> int:
    """Daily: propose the contacts with no remaining reason to keep them."""
    with job_session(engine or default_engine()) as session:
        return retention.propose(session)
