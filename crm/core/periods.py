"""The period of a report: the days from one date to another, both included, as a
half-open range of UTC times; read from a page's filter form or from the API's query."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Query

from crm.core.db import utcnow
from crm.core.errors import N_, Invalid
from crm.core.schemas import Day, parse_day


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime  # excluded

    @property
    def first(self) -> date:
        return self.since.date()

    @property
    def last(self) -> date:
        return (self.until - timedelta(days=1)).date()


def period(first: date | None, last: date | None, *, today: date) -> Period:
    """From ``first`` to ``last``; by default the year up to today."""
    last = last or today
    first = first or last - timedelta(days=364)
    if first > last:
        raise Invalid(N_("The period must not end before it starts."), field="from")
    since = datetime.combine(first, time.min, tzinfo=UTC)
    return Period(since, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC))


def _from_form(
    first: Annotated[str, Query(alias="from")] = "", last: Annotated[str, Query(alias="to")] = ""
) -> Period:
    """A filter form sends empty fields for the defaults; bad dates are a 422."""
    try:
        days = [parse_day(value) if value else None for value in (first, last)]
    except ValueError as exc:
        raise Invalid(N_("Give the dates as YYYY-MM-DD."), field="from") from exc
    return period(*days, today=utcnow().date())


def _from_api(
    first: Annotated[
        Day | None, Query(alias="from", description="First day; a year ago by default.")
    ] = None,
    last: Annotated[
        Day | None, Query(alias="to", description="Last day, included; today by default.")
    ] = None,
) -> Period:
    return period(first, last, today=utcnow().date())


FormPeriod = Annotated[Period, Depends(_from_form)]
ApiPeriod = Annotated[Period, Depends(_from_api)]
