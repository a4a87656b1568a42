"""Journey analytics: the funnel, conversion, time-to-close, churn, NPS, time in phase and
cohorts, for one journey over a period and optionally one segment.

Definitions (the analytics page shows them too):
- A stay is a transition into a phase; it lasts until the enrollment's next transition.
- Funnel: per phase, the subjects that entered it during the period; of those, how many
  moved on (their next step went to a later phase), completed (left as won), dropped out
  (left as lost or churned), went back (to an earlier phase), or are still there. A
  subject's outcome is followed up to now, not cut at the period's end.
- Conversion: of the subjects that joined the journey during the period, the share that
  reached a purchase phase. Time-to-close: from joining to the first purchase phase.
- Churn: of the customers of the period (subjects that had reached a purchase phase and
  were still in the journey at some time in it), the share that left as churned during it.
- NPS: from the NPS answers in the period that count toward the journey (given while the
  subject was in one of its phases; see ``attribution``): the share of promoters (9-10)
  minus the share of detractors (0-6), in points.
- Time in phase: the stays that ended in the period, per phase: median and 90th
  percentile in days, and how many fell into each band.
- Cohorts: the subjects that joined in each month of the period, and where they are now.
"""

import bisect
import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from itertools import accumulate
from typing import Any

from pydantic import BaseModel, computed_field
from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from crm.core import tallies
from crm.core.sql import plan_for_values
from crm.journeys import daily
from crm.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    Phase,
    PhaseKind,
    TouchpointPhase,
)
from crm.journeys.models import PhaseTransition as Transition
from crm.journeys.service import phases_of
from crm.journeys.stay_lengths import BAND_NAMES, TimeInPhase, time_in_phase


class FunnelStep(BaseModel):
    phase_id: int
    entered: int = 0
    moved_on: int = 0
    completed: int = 0
    dropped: int = 0
    went_back: int = 0
    still_there: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def conversion(self) -> float | None:
        return (self.moved_on + self.completed) / self.entered if self.entered else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def drop_off(self) -> float | None:
        return self.dropped / self.entered if self.entered else None


class Cohort(BaseModel):
    month: str  # YYYY-MM
    joined: int = 0
    reached_purchase: int = 0
    active: int = 0
    won: int = 0
    lost: int = 0
    churned: int = 0


class Figures(BaseModel):
    funnel: list[FunnelStep]
    joined: int
    converted: int
    conversion_rate: float | None
    time_to_close_median_days: float | None
    customers: int
    churned: int
    churn_rate: float | None
    nps: float | None
    nps_answers: int
    time_in_phase: list[TimeInPhase]
    cohorts: list[Cohort]


@dataclass
class Scope:
    """One journey's phases, a period and optionally a segment: what every figure reads."""

    journey_id: int
    phases: list[Phase]
    since: datetime
    until: datetime
    segment: str | None  # None: every subject
    # Whole UTC days over every segment: what the kept figures per day (``daily``) answer.
    daily: bool

    def of(self, table: Any) -> list[Any]:
        """The conditions that keep ``table``'s rows to the journey and segment."""
        conditions = [table.journey_id == self.journey_id]
        if self.segment and table is Enrollment:
            conditions.append(Enrollment.segment == self.segment)
        elif self.segment:
            in_segment = select(Enrollment.id).where(
                Enrollment.journey_id == self.journey_id, Enrollment.segment == self.segment
            )
            # "+ 0": a membership test on each row of the range read, not a walk of
            # every segment member's history (which SQLite's planner would choose).
            conditions.append((col(table.enrollment_id) + 0).in_(in_segment))
        return conditions

    def kind(self, kind: PhaseKind) -> list[int]:
        return [p.id for p in self.phases if p.kind == kind]

    def days(self, table: Any) -> list[Any]:
        """The conditions that keep a kept figure's rows to the journey and period."""
        return [
            table.journey_id == self.journey_id,
            table.day >= self.since.astimezone(UTC).date(),
            table.day < self.until.astimezone(UTC).date(),
        ]


def scope(
    session: Session, *, journey: Journey, since: datetime, until: datetime, segment: str | None
) -> Scope:
    # Which index pays depends on the period: the generic plan (seeking stays by their
    # end, then sorting them) walks 30 times more of them than the lengths' index at L.
    plan_for_values(session)
    phases = phases_of(session, journey, archived=True)
    whole_days = all(t.astimezone(UTC).time() == time.min for t in (since, until))
    return Scope(journey.id, phases, since, until, segment or None, whole_days and not segment)


def figures(
    session: Session,
    *,
    journey: Journey,
    since: datetime,
    until: datetime,
    segment: str | None = None,
) -> Figures:
    within = scope(session, journey=journey, since=since, until=until, segment=segment)
    phases = within.phases
    steps = funnel(session, within)
    closes, cohorts = _joined(session, within)
    customers, churned = _churn(session, within)
    promoters, detractors, answers = _nps(session, within)
    stays = time_in_phase(session, within)
    joined = sum(c.joined for c in cohorts)
    converted = sum(c.reached_purchase for c in cohorts)
    return Figures(
        funnel=[steps[p.id] for p in phases if not p.is_archived or steps[p.id].entered],
        joined=joined,
        converted=converted,
        conversion_rate=converted / joined if joined else None,
        time_to_close_median_days=statistics.median(closes) if closes else None,
        customers=customers,
        churned=churned,
        churn_rate=churned / customers if customers else None,
        nps=nps_score(promoters, detractors, answers),
        nps_answers=answers,
        time_in_phase=[stays[p.id] for p in phases if not p.is_archived],
        cohorts=cohorts,
    )


def nps_score(promoters: int, detractors: int, answers: int) -> float | None:
    return round((promoters - detractors) * 100 / answers, 1) if answers else None


def funnel(session: Session, within: Scope) -> dict[int, FunnelStep]:
    """Per phase, the subjects that entered it in the period and where their last entry
    in the period led: from the stays kept per day, else counted from the stays (one
    index range per phase, as each stay knows its next step)."""
    found = _kept_outcomes(session, within) if within.daily else _counted_outcomes(session, within)
    steps = {}
    for phase in within.phases:
        later = [p.id for p in within.phases if p.position > phase.position]
        earlier = [p.id for p in within.phases if p.position <= phase.position]
        counts = _outcome_counts(found.get(phase.id, []), later, earlier)
        moved_on, completed, dropped, went_back, still_there = counts
        steps[phase.id] = FunnelStep(
            phase_id=phase.id,
            entered=sum(counts),
            moved_on=moved_on,
            completed=completed,
            dropped=dropped,
            went_back=went_back,
            still_there=still_there,
        )
    return steps


def _counted_outcomes(session: Session, within: Scope) -> dict[int, list[Any]]:
    """Per phase, the stays begun in the period by where the last entry led, counted as
    the kept figures count them (no next phase is 0, no next status "")."""
    next_phase = func.coalesce(Transition.next_phase_id, 0).label("next_phase_id")
    next_status = func.coalesce(Transition.next_status, "").label("next_status")
    found = {}
    for phase in within.phases:
        query = (
            select(next_phase, next_status, func.count().label("stays"))
            .where(
                *within.of(Transition),
                Transition.to_phase_id == phase.id,
                Transition.at >= within.since,
                Transition.at < within.until,
                # the subject's last entry into this phase in the period
                or_(
                    col(Transition.reentered_at).is_(None),
                    Transition.reentered_at >= within.until,
                ),
            )
            .group_by(next_phase, next_status)
        )
        found[phase.id] = list(session.execute(query))
    return found


def _kept_outcomes(session: Session, within: Scope) -> dict[int, list[Any]]:
    """Per phase, the stays begun in the period by where the last entry led."""
    rows = tallies.read(
        session,
        daily.STARTS,
        where=lambda table: [
            *within.days(table),
            table.reentered_day >= within.until.astimezone(UTC).date(),
        ],
        by=["phase_id", "next_phase_id", "next_status"],
    )
    by_phase: dict[int, list[Any]] = {}
    for row in rows:
        by_phase.setdefault(row.phase_id, []).append(row)
    return by_phase


def _outcome_counts(rows: list[Any], later: list[int], earlier: list[int]) -> tuple[int, ...]:
    """Moved on, completed, dropped, went back and still there, from stays counted by
    where they led."""
    counts = [0] * 5
    for row in rows:
        left = row.next_phase_id == 0 and row.next_status != ""
        for i, holds in enumerate(
            (
                row.next_phase_id in later,
                left and row.next_status == EnrollmentStatus.WON,
                left and row.next_status != EnrollmentStatus.WON,
                row.next_phase_id in earlier,
                row.next_status == "",
            )
        ):
            counts[i] += int(row.stays) if holds else 0
    return tuple(counts)


def _months(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The calendar months (UTC) that the period touches, cut to the period."""
    months, start = [], since
    while start < until:
        first_day = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first_day + timedelta(days=32)).replace(day=1)
        months.append((start, min(following, until)))
        start = following
    return months


def _joined(session: Session, within: Scope) -> tuple[list[float], list[Cohort]]:
    """The middle one or two of the days from joining to the first purchase phase, and
    the cohorts: the enrollments that began in the period by month, with their status
    now (kept per day, else one index range per month)."""
    cohorts, closes = [], [0] * len(daily.LENGTHS)
    for start, end in _months(within.since, within.until):
        if within.daily:
            month = replace(within, since=start, until=end)
            by_status = dict.fromkeys(EnrollmentStatus, 0)
            reached = 0
            for status, close_from, n in tallies.read(
                session, daily.ENROLLMENTS, where=month.days, by=["status", "close_from_days"]
            ):
                by_status[status] += int(n)
                if close_from >= 0:
                    reached += int(n)
                    closes[daily.LENGTHS.index(close_from)] += int(n)
            counts = (sum(by_status.values()), reached, *by_status.values())
        else:
            counts = session.execute(
                select(
                    func.count(),
                    func.count(Enrollment.purchased_at),
                    *(
                        func.count().filter(Enrollment.status == status)
                        for status in EnrollmentStatus
                    ),
                ).where(
                    *within.of(Enrollment),
                    Enrollment.started_at >= start,
                    Enrollment.started_at < end,
                )
            ).one()
        joined, reached, *statuses = counts
        if joined:
            cohorts.append(
                Cohort(
                    month=start.strftime("%Y-%m"),
                    joined=joined,
                    reached_purchase=reached,
                    **dict(zip(EnrollmentStatus, statuses, strict=True)),
                )
            )
    converted = sum(c.reached_purchase for c in cohorts)
    if not converted:
        return [], cohorts
    # the middle one or two of the days from joining to the purchase, from the band that
    # holds them when the bands are kept
    rank, count = (converted - 1) // 2, 2 - converted % 2
    to_close = col(Enrollment.days_to_purchase)
    skip, conditions = 0, [to_close.is_not(None)]
    if within.daily:  # walk the lengths from the band that holds the middle one
        below = list(accumulate(closes, initial=0))
        band = bisect.bisect_right(below, rank) - 1
        skip, conditions = below[band], [to_close >= daily.LENGTHS[band]]
    query = (
        select(to_close)
        .where(
            *within.of(Enrollment),
            *conditions,
            Enrollment.started_at >= within.since,
            Enrollment.started_at < within.until,
        )
        .order_by(to_close)
        .offset(rank - skip)
        .limit(count)
    )
    return list(session.scalars(query)), cohorts


def _churn(session: Session, within: Scope) -> tuple[int, int]:
    """The customers of the period (subjects that had reached a purchase phase and were
    still in the journey at some time in it), and how many of them left as churned
    during it: each at its last churn in the period, so that one who came back and
    churned again counts once."""
    if within.daily:  # those who bought before the end, less those who had left by the start
        end, start = (t.astimezone(UTC).date() for t in (within.until, within.since))
        rows = tallies.read(
            session,
            daily.CUSTOMERS,
            where=lambda table: [
                table.journey_id == within.journey_id,
                or_(
                    and_(table.event == "bought", table.day < end),
                    and_(table.event == "left", table.day < start),
                ),
            ],
            by=["event"],
        )
        found = {event: int(n) for event, n in rows}
        customers = found.get("bought", 0) - found.get("left", 0)
        (churned,) = tallies.read(
            session,
            daily.CHURNS,
            where=lambda table: [*within.days(table), table.next_churn_day >= end],
            by=[],
        )
        return customers, int(churned.churned or 0)
    customers = session.execute(
        select(func.count()).where(
            *within.of(Enrollment),
            Enrollment.purchased_at < within.until,
            or_(col(Enrollment.ended_at).is_(None), Enrollment.ended_at >= within.since),
        )
    ).scalar_one()
    churned = session.execute(
        select(func.count()).where(
            *within.of(Transition),
            *daily.CUSTOMER_CHURNS,
            Transition.at >= within.since,
            Transition.at < within.until,
            or_(col(Transition.reentered_at).is_(None), Transition.reentered_at >= within.until),
        )
    ).scalar_one()
    return customers, churned


def _nps(session: Session, within: Scope) -> tuple[int, int, int]:
    """Promoters, detractors and answers among the NPS answers that count toward the
    journey in the period."""
    if within.daily:
        (row,) = tallies.read(session, daily.TOUCHPOINTS, where=within.days, by=[])
        return int(row.promoters or 0), int(row.detractors or 0), int(row.answers or 0)
    promoters, detractors, answers = session.execute(
        select(
            func.count().filter(TouchpointPhase.nps >= 9),
            func.count().filter(TouchpointPhase.nps <= 6),
            func.count(),
        ).where(
            *within.of(TouchpointPhase),
            col(TouchpointPhase.nps).is_not(None),
            TouchpointPhase.occurred_at >= within.since,
            TouchpointPhase.occurred_at < within.until,
        )
    ).one()
    return promoters, detractors, answers


def csv_rows(result: Figures, phase_names: dict[int, str]) -> list[tuple[Any, ...]]:
    """The figures in long form: (figure, phase or month, measure, value)."""
    rows: list[tuple[Any, ...]] = []
    for step in result.funnel:
        for measure, value in step.model_dump(exclude={"phase_id"}).items():
            rows.append(("funnel", phase_names[step.phase_id], measure, value))
    journey_wide = result.model_dump(exclude={"funnel", "time_in_phase", "cohorts"})
    rows += [("journey", "", measure, value) for measure, value in journey_wide.items()]
    for stays in result.time_in_phase:
        name = phase_names[stays.phase_id]
        rows += [
            ("time_in_phase", name, "stays", stays.stays),
            ("time_in_phase", name, "median_days", stays.median_days),
            ("time_in_phase", name, "p90_days", stays.p90_days),
        ]
        rows += [
            ("time_in_phase", name, band, n)
            for band, n in zip(BAND_NAMES, stays.bands, strict=True)
        ]
    for cohort in result.cohorts:
        for measure, value in cohort.model_dump(exclude={"month"}).items():
            rows.append(("cohort", cohort.month, measure, value))
    return rows
