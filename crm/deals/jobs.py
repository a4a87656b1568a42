"""Scheduled work of the deals domain."""

from sqlalchemy import Engine

from crm.core.db import default_engine, job_session
from crm.deals import figures


def settle_forecast(engine: Engine | None = None) -> int:
    """Fold the forecast's changes into its totals (see ``crm.core.tallies``)."""
    with job_session(engine or default_engine()) as session:
        return figures.settle_forecast(session)
