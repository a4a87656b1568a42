"""Every figure kept as its rows change (see ``crm.core.tallies``)."""

from sqlmodel import Session

from crm.core import tallies
from crm.deals.board import STAGE_TOTALS
from crm.deals.figures import FORECAST
from crm.journeys.counts import BOARD
from crm.journeys.daily import DAILY

TALLIES = [BOARD, FORECAST, STAGE_TOTALS, *DAILY]


def settle_all(session: Session) -> None:
    """Fold every kept figure's changes into its totals, as the scheduled jobs do."""
    for tally in TALLIES:
        tallies.settle(session, tally)
