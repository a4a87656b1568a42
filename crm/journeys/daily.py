"""The journey reports' figures per UTC day, kept as their rows change (see
``crm.core.tallies``; the triggers are in the migration daily_figures).

A year's journey map or analytics read every touchpoint and stay of the year otherwise:
seconds at size L. Reports over whole UTC days (every period the pages and the API ask
for) and every segment sum these instead; others count the rows.

- ``touchpoint_day``: the touchpoints that count toward a phase (``touchpoint_phase``)
  per channel, initiator and day, with their sentiment and NPS answers.
- ``stay_start_day``: the stays that began on a day, by where they led (the next phase,
  or 0; the next status, or "") and the day the subject next entered the same phase
  (9999-12-31 if it has not): the funnel.
- ``stay_end_day``: the stays that ended on a day, by length (the lower bound of a band
  of ``LENGTHS``): time in phase.
- ``enrollment_day``: the enrollments that began on a day, by status and by the band of
  their days to the first purchase phase (-1 before one): cohorts, conversion,
  time-to-close.
- ``customer_day``: the enrollments that reached a purchase phase ("bought") and those of
  them that ended ("left"), by the day it happened: the customers of a period.
- ``churn_day``: customers' churned exits by day and the day the enrollment next churned
  (9999-12-31 if it has not): an enrollment that churned in a period is counted once, at
  its last churn in it.

Sentiment and NPS appear only summed; erasing a touchpoint takes its share away.
"""

from datetime import date
from itertools import pairwise
from typing import Any

from sqlalchemy import Date, Index, case, func, literal
from sqlmodel import Session, SQLModel, col, select

from crm.core import tallies
from crm.core.db import Privacy, column
from crm.core.sql import utc_day
from crm.journeys.models import Enrollment, EnrollmentStatus, PhaseTransition, TouchpointPhase

NOT_REENTERED = date(9999, 12, 31)
# The exits that churn counts: a customer's, as churned.
CUSTOMER_CHURNS = [
    col(PhaseTransition.to_phase_id).is_(None),
    PhaseTransition.status == EnrollmentStatus.CHURNED,
    col(PhaseTransition.left_as_customer).is_(True),
]
# The lower bounds (days) of the bands stays are kept in: fine enough that finding a
# percentile's exact value reads one band's stays, and holding stay_lengths.BANDS.
LENGTHS = (0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)


def _key(**kwargs: Any) -> Any:
    return column(Privacy.NONE, primary_key=True, **kwargs)


def _sum() -> Any:
    return column(Privacy.NONE, default=0)


class _TouchpointDayFields(SQLModel):
    touchpoints: int = _sum()
    sentiment_sum: int = _sum()
    sentiments: int = _sum()
    promoters: int = _sum()
    detractors: int = _sum()
    answers: int = _sum()


class TouchpointDay(_TouchpointDayFields, table=True):
    __tablename__ = "touchpoint_day"

    # No foreign keys here or below: a phase's or journey's deletion may cascade to the
    # rows whose triggers write changes for it while it goes.
    journey_id: int = _key()
    day: date = _key(sa_type=Date)  # before the groups: a period is one index range
    phase_id: int = _key()
    channel_id: int = _key()
    initiated_by: str = _key(max_length=16)


class TouchpointDayChange(_TouchpointDayFields, table=True):
    __tablename__ = "touchpoint_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    phase_id: int = column(Privacy.NONE)
    channel_id: int = column(Privacy.NONE)
    initiated_by: str = column(Privacy.NONE, max_length=16)
    day: date = column(Privacy.NONE, sa_type=Date)


class StayStartDay(SQLModel, table=True):
    __tablename__ = "stay_start_day"
    # The stays not entered again before a period's end (the funnel's last entries) are
    # one index range from that end on: a period that ends lately, as most do, reads few
    # others. The key's order has every phase's days for one journey at once.
    __table_args__ = (
        Index(
            "ix_stay_start_day_reentered",
            "journey_id",
            "reentered_day",
            "day",
            "phase_id",
            "next_phase_id",
            "next_status",
            "stays",
        ),
    )

    journey_id: int = _key()
    phase_id: int = _key()
    day: date = _key(sa_type=Date)
    reentered_day: date = _key(sa_type=Date)
    next_phase_id: int = _key()
    next_status: str = _key(max_length=16)
    stays: int = _sum()


class StayStartDayChange(SQLModel, table=True):
    __tablename__ = "stay_start_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    phase_id: int = column(Privacy.NONE)
    day: date = column(Privacy.NONE, sa_type=Date)
    reentered_day: date = column(Privacy.NONE, sa_type=Date)
    next_phase_id: int = column(Privacy.NONE)
    next_status: str = column(Privacy.NONE, max_length=16)
    stays: int = _sum()


class StayEndDay(SQLModel, table=True):
    __tablename__ = "stay_end_day"
    # A period is one index range (the key's order has every phase's days for one journey).
    __table_args__ = (
        Index("ix_stay_end_day_period", "journey_id", "day", "phase_id", "from_days", "stays"),
    )

    journey_id: int = _key()
    phase_id: int = _key()
    day: date = _key(sa_type=Date)
    from_days: int = _key()  # the band's lower bound, one of LENGTHS
    stays: int = _sum()


class StayEndDayChange(SQLModel, table=True):
    __tablename__ = "stay_end_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    phase_id: int = column(Privacy.NONE)
    day: date = column(Privacy.NONE, sa_type=Date)
    from_days: int = column(Privacy.NONE)
    stays: int = _sum()


class EnrollmentDay(SQLModel, table=True):
    __tablename__ = "enrollment_day"

    journey_id: int = _key()
    day: date = _key(sa_type=Date)
    status: str = _key(max_length=16)
    close_from_days: int = _key()  # the band of the days to purchase; -1 without one
    enrollments: int = _sum()


class EnrollmentDayChange(SQLModel, table=True):
    __tablename__ = "enrollment_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    day: date = column(Privacy.NONE, sa_type=Date)
    status: str = column(Privacy.NONE, max_length=16)
    close_from_days: int = column(Privacy.NONE)
    enrollments: int = _sum()


class CustomerDay(SQLModel, table=True):
    __tablename__ = "customer_day"

    journey_id: int = _key()
    event: str = _key(max_length=8)  # bought or left
    day: date = _key(sa_type=Date)
    customers: int = _sum()


class CustomerDayChange(SQLModel, table=True):
    __tablename__ = "customer_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    event: str = column(Privacy.NONE, max_length=8)
    day: date = column(Privacy.NONE, sa_type=Date)
    customers: int = _sum()


class ChurnDay(SQLModel, table=True):
    __tablename__ = "churn_day"

    journey_id: int = _key()
    day: date = _key(sa_type=Date)
    next_churn_day: date = _key(sa_type=Date)
    churned: int = _sum()


class ChurnDayChange(SQLModel, table=True):
    __tablename__ = "churn_day_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, index=True)
    day: date = column(Privacy.NONE, sa_type=Date)
    next_churn_day: date = column(Privacy.NONE, sa_type=Date)
    churned: int = _sum()


def band_of(days: Any) -> Any:
    """The lower bound of the band of ``LENGTHS`` that holds ``days``."""
    return case(
        *((days < upper, lower) for lower, upper in pairwise(LENGTHS)),
        else_=LENGTHS[-1],
    )


def _grouped(query: Any, keys: int) -> tallies.Counted:
    return {tuple(row[:keys]): [int(v or 0) for v in row[keys:]] for row in query}


def _count_touchpoints(session: Session) -> tallies.Counted:
    tp = TouchpointPhase
    keys = (tp.journey_id, utc_day(tp.occurred_at), tp.phase_id, tp.channel_id, tp.initiated_by)
    query = select(
        *keys,
        func.count(),
        func.sum(tp.sentiment),
        func.count(tp.sentiment),
        func.count().filter(tp.nps >= 9),
        func.count().filter(tp.nps <= 6),
        func.count(tp.nps),
    ).group_by(*keys)
    return _grouped(session.execute(query), len(keys))


def _count_starts(session: Session) -> tallies.Counted:
    st = PhaseTransition
    keys = (
        st.journey_id,
        st.to_phase_id,
        utc_day(st.at),
        func.coalesce(utc_day(st.reentered_at), literal(NOT_REENTERED, Date)),
        func.coalesce(st.next_phase_id, 0),
        func.coalesce(st.next_status, ""),
    )
    query = select(*keys, func.count()).where(col(st.to_phase_id).is_not(None)).group_by(*keys)
    return _grouped(session.execute(query), len(keys))


def _count_ends(session: Session) -> tallies.Counted:
    st = PhaseTransition
    keys = (st.journey_id, st.to_phase_id, utc_day(st.until), band_of(st.days))
    query = (
        select(*keys, func.count())
        .where(col(st.to_phase_id).is_not(None), col(st.until).is_not(None))
        .group_by(*keys)
    )
    return _grouped(session.execute(query), len(keys))


def _count_enrollments(session: Session) -> tallies.Counted:
    e = Enrollment
    close = case((col(e.days_to_purchase).is_(None), -1), else_=band_of(e.days_to_purchase))
    keys = (e.journey_id, utc_day(e.started_at), e.status, close)
    return _grouped(session.execute(select(*keys, func.count()).group_by(*keys)), len(keys))


def _count_customers(session: Session) -> tallies.Counted:
    e, bought = Enrollment, col(Enrollment.purchased_at).is_not(None)
    counted: tallies.Counted = {}
    for event, at, rows in (
        ("bought", e.purchased_at, [bought]),
        ("left", e.ended_at, [bought, col(e.ended_at).is_not(None)]),
    ):
        keys = (e.journey_id, utc_day(at))
        query = select(*keys, func.count()).where(*rows).group_by(*keys)
        counted |= {(journey_id, event, day): [n] for journey_id, day, n in session.execute(query)}
    return counted


def _count_churns(session: Session) -> tallies.Counted:
    st = PhaseTransition
    keys = (
        st.journey_id,
        utc_day(st.at),
        func.coalesce(utc_day(st.reentered_at), literal(NOT_REENTERED, Date)),
    )
    query = select(*keys, func.count()).where(*CUSTOMER_CHURNS).group_by(*keys)
    return _grouped(session.execute(query), len(keys))


TOUCHPOINTS = tallies.Tally(
    "journey map touchpoints per day",
    TouchpointDay,
    TouchpointDayChange,
    ["journey_id", "day", "phase_id", "channel_id", "initiated_by"],
    ["touchpoints", "sentiment_sum", "sentiments", "promoters", "detractors", "answers"],
    _count_touchpoints,
)
STARTS = tallies.Tally(
    "stays begun per day",
    StayStartDay,
    StayStartDayChange,
    ["journey_id", "phase_id", "day", "reentered_day", "next_phase_id", "next_status"],
    ["stays"],
    _count_starts,
)
ENDS = tallies.Tally(
    "stays ended per day",
    StayEndDay,
    StayEndDayChange,
    ["journey_id", "phase_id", "day", "from_days"],
    ["stays"],
    _count_ends,
)
ENROLLMENTS = tallies.Tally(
    "enrollments begun per day",
    EnrollmentDay,
    EnrollmentDayChange,
    ["journey_id", "day", "status", "close_from_days"],
    ["enrollments"],
    _count_enrollments,
)
CUSTOMERS = tallies.Tally(
    "customers bought and left per day",
    CustomerDay,
    CustomerDayChange,
    ["journey_id", "event", "day"],
    ["customers"],
    _count_customers,
)
CHURNS = tallies.Tally(
    "customers churned per day",
    ChurnDay,
    ChurnDayChange,
    ["journey_id", "day", "next_churn_day"],
    ["churned"],
    _count_churns,
)
DAILY = [TOUCHPOINTS, STARTS, ENDS, ENROLLMENTS, CUSTOMERS, CHURNS]
