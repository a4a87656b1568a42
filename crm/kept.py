"""Every figure kept as its rows change (see ``crm.core.tallies``)."""

from crm.deals.board import STAGE_TOTALS
from crm.deals.figures import FORECAST
from crm.journeys.counts import BOARD
from crm.journeys.daily import DAILY

TALLIES = [BOARD, FORECAST, STAGE_TOTALS, *DAILY]
