"""Deal figures: the weighted forecast, win rate, deal size, time to close, lost reasons,
customer lifetime value and the ABC classification of customers.

Amounts are never added across currencies: every sum is per currency. Definitions:
- Forecast: the open deals by month of their expected close, each weighted by its
  probability (its own, else its stage's).
- Win rate: of the deals closed in the period, the share won. Average deal size and time
  to close (creation to closing, median days): the deals won in the period.
- Customer lifetime value (CLV): the sum of a customer's won deals, all time.
- ABC: the companies with won deals in the main currency, by CLV, largest first. A are
  those that together make the first 80% of the revenue (the one that crosses 80% is
  included), B the next 15%, C the rest; equal values share the higher class.
"""

import statistics
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, false, func, select, type_coerce
from sqlmodel import Session, col

from crm.core import tallies
from crm.core.db import Money
from crm.core.sql import days_between
from crm.deals.models import (
    DEFAULT_CURRENCY,
    Deal,
    DealStage,
    DealStatus,
    ForecastChange,
    ForecastTotal,
    LostReason,
    in_currency,
    with_contact,
)

A_SHARE, B_SHARE = Decimal("0.80"), Decimal("0.95")


class ForecastMonth(BaseModel):
    month: str | None  # YYYY-MM; None for the deals without an expected close
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal


class Performance(BaseModel):
    closed: int
    won: int
    win_rate: float | None
    average_won: dict[str, Decimal]  # currency -> average amount
    time_to_close_median_days: float | None
    lost_reasons: dict[str, int]  # reason key -> deals


def _count_forecast(session: Session) -> tallies.Counted:
    """The forecast counted from the open deals, in stored units (times percent)."""
    amount = type_coerce(Deal.amount, BigInteger)
    query = (
        select(
            Deal.pipeline_id,
            Deal.expected_close_date,
            Deal.currency,
            amount,
            func.coalesce(Deal.probability, DealStage.probability),
        )
        .join(DealStage, DealStage.id == Deal.stage_id)
        .where(Deal.status == DealStatus.OPEN)
    )
    counted: tallies.Counted = {}
    for pipeline_id, day, currency, units, probability in session.execute(query):
        month = day.strftime("%Y-%m") if day else ""
        into = counted.setdefault((pipeline_id, month, currency), [0, 0, 0])
        into[0] += 1
        into[1] += units
        into[2] += units * probability
    return counted


FORECAST = tallies.Tally(
    "deals forecast",
    ForecastTotal,
    ForecastChange,
    ["pipeline_id", "month", "currency"],
    ["deals", "amount", "weighted"],
    _count_forecast,
)


def forecast(session: Session, *, pipeline_id: int | None = None) -> list[ForecastMonth]:
    """The open deals per month of expected close and currency, weighted: kept as deals
    change (``crm.core.tallies``), not summed over every open deal on each view."""
    rows = tallies.read(
        session,
        FORECAST,
        where=lambda table: [] if pipeline_id is None else [table.pipeline_id == pipeline_id],
    )
    months: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for _pipeline, month, currency, *values in rows:
        for i, value in enumerate(values):
            months[(month, currency)][i] += value
    return [
        ForecastMonth(
            month=month or None,
            currency=currency,
            deals=count,
            amount=in_currency(Decimal(amount) / Money.UNITS, currency),
            weighted=in_currency(Decimal(weighted) / (Money.UNITS * 100), currency),
        )
        # the months in order, then the deals without an expected close
        for (month, currency), (count, amount, weighted) in sorted(
            months.items(), key=lambda item: (not item[0][0], item[0])
        )
        if count
    ]


def performance(
    session: Session, *, since: datetime, until: datetime, pipeline_id: int | None = None
) -> Performance:
    """Win rate, deal size, time to close and lost reasons of the deals closed in the
    period."""
    closed = [
        Deal.closed_at >= since,
        Deal.closed_at < until,
        col(Deal.status).in_([DealStatus.WON, DealStatus.LOST]),
    ]
    if pipeline_id is not None:
        closed.append(Deal.pipeline_id == pipeline_id)
    by_status = dict(
        session.execute(
            select(Deal.status, func.count()).where(*closed).group_by(Deal.status)
        ).all()
    )
    won = [*closed, Deal.status == DealStatus.WON]
    averages = {
        currency: in_currency(total / count, currency)
        for currency, total, count in session.execute(
            select(Deal.currency, func.sum(Deal.amount), func.count())
            .where(*won)
            .group_by(Deal.currency)
        )
    }
    days = list(session.scalars(select(days_between(Deal.created_at, Deal.closed_at)).where(*won)))
    reasons = dict(
        session.execute(
            select(LostReason.key, func.count())
            .join(Deal, Deal.lost_reason_id == LostReason.id)
            .where(*closed, Deal.status == DealStatus.LOST)
            .group_by(LostReason.key)
        ).all()
    )
    total = by_status.get(DealStatus.WON, 0) + by_status.get(DealStatus.LOST, 0)
    return Performance(
        closed=total,
        won=by_status.get(DealStatus.WON, 0),
        win_rate=by_status.get(DealStatus.WON, 0) / total if total else None,
        average_won=averages,
        time_to_close_median_days=statistics.median(days) if days else None,
        lost_reasons=reasons,
    )


def lifetime_value(
    session: Session, *, company_id: int | None = None, contact_id: int | None = None
) -> dict[str, Decimal]:
    """A company's or a contact's won amounts, per currency."""
    query = select(Deal.currency, func.sum(Deal.amount)).where(Deal.status == DealStatus.WON)
    if company_id is not None:
        query = query.where(Deal.company_id == company_id)
    if contact_id is not None:
        query = query.where(with_contact(contact_id))
    rows = session.execute(query.group_by(Deal.currency)).all()
    return {currency: in_currency(amount, currency) for currency, amount in rows}


def _company_values(currency: str) -> Any:
    """Each company's lifetime value in ``currency`` (a subquery: company_id, clv)."""
    return (
        select(Deal.company_id, func.sum(Deal.amount).label("clv"))
        .where(
            Deal.status == DealStatus.WON,
            Deal.currency == currency,
            col(Deal.company_id).is_not(None),
        )
        .group_by(Deal.company_id)
        .subquery()
    )


def _graded(session: Session, currency: str) -> list[tuple[int, Decimal, str]]:
    """(company, value, class), largest value first."""
    values = _company_values(currency)
    ranked = sorted(
        session.execute(select(values.c.company_id, values.c.clv)).all(),
        key=lambda row: (-row.clv, row.company_id),
    )
    total = sum((row.clv for row in ranked), Decimal(0))
    graded: list[tuple[int, Decimal, str]] = []
    before = Decimal(0)
    for company_id, value in ranked:
        share = before / total if total else Decimal(1)
        grade = "A" if share < A_SHARE else "B" if share < B_SHARE else "C"
        if graded and graded[-1][1] == value:  # equal values share the higher class
            grade = graded[-1][2]
        graded.append((company_id, value, grade))
        before += value
    return graded


def abc_classes(session: Session, *, currency: str = DEFAULT_CURRENCY) -> dict[int, str]:
    """Each company with won deals in ``currency``: its class A, B or C."""
    return {company_id: grade for company_id, _, grade in _graded(session, currency)}


def in_abc_class(session: Session, grade: str, *, currency: str = DEFAULT_CURRENCY) -> Any:
    """A SELECT of the ids of the companies in class ``grade``. Classes follow the values,
    so each is a range: from its smallest value up to the higher classes' smallest."""
    graded = _graded(session, currency)
    values = _company_values(currency)
    floor = min((v for _, v, g in graded if g == grade), default=None)
    if floor is None:
        return select(values.c.company_id).where(false())
    ceiling = min((v for _, v, g in graded if g < grade), default=None)
    query = select(values.c.company_id).where(values.c.clv >= floor)
    return query if ceiling is None else query.where(values.c.clv < ceiling)


def abc_class(session: Session, *, company_id: int, currency: str = DEFAULT_CURRENCY) -> str | None:
    return abc_classes(session, currency=currency).get(company_id)
