"""Scheduled work of the deals domain."""

from sqlalchemy import Engine

from crm.core import tallies
from crm.core.db import default_engine, job_session
from crm.deals.board import STAGE_TOTALS
from crm.deals.figures import FORECAST


def settle_forecast(engine: Engine | None = None) -> int:
    """Fold the forecast's changes into its totals (see ``crm.core.tallies``)."""
    with job_session(engine or default_engine()) as session:
        return tallies.settle(session, FORECAST)


def settle_stage_totals(engine: Engine | None = None) -> int:
    """Fold the deal boards' column changes into their totals."""
    with job_session(engine or default_engine()) as session:
        return tallies.settle(session, STAGE_TOTALS)
