"""Scheduled work of the journeys domain."""

from sqlalchemy import Engine

from crm.core import tallies
from crm.core.db import default_engine, job_session
from crm.journeys import daily
from crm.journeys.counts import BOARD


def settle_phase_counts(engine: Engine | None = None) -> int:
    """Fold the board's count changes into the settled counts (see ``journeys.counts``)."""
    with job_session(engine or default_engine()) as session:
        return tallies.settle(session, BOARD)


def settle_daily_figures(engine: Engine | None = None) -> int:
    """Fold the journey reports' changes into their totals per day (``journeys.daily``)."""
    with job_session(engine or default_engine()) as session:
        return sum(tallies.settle(session, tally) for tally in daily.DAILY)
