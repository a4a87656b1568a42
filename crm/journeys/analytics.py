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
- Churn: of the subjects in a post-purchase phase at some time in the period, the share
  that left as churned during it.
- NPS: from the NPS answers in the period that count toward the journey (given while the
  subject was in one of its phases; see ``attribution``): the share of promoters (9-10)
  minus the share of detractors (0-6), in points.
- Time in phase: the stays that ended in the period, per phase: median and 90th
  percentile in days, and how many fell into each band.
- Cohorts: the subjects that joined in each month of the period, and where they are now.
"""

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from crm.contacts.models import Company, Contact
from crm.core.errors import N_, Invalid
from crm.core.sql import days_between, month_of
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

# Upper bounds (days) of the bands of the time-in-phase distribution; the last is open.
BANDS = (7, 14, 30, 60, 90, 180)


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


class TimeInPhase(BaseModel):
    phase_id: int
    stays: int = 0
    median_days: float | None = None
    p90_days: float | None = None
    bands: list[int] = Field(
        default_factory=lambda: [0] * (len(BANDS) + 1),
        description="Stays per band of days: under 7, 14, 30, 60, 90, 180, and longer.",
    )


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


def period(first: date | None, last: date | None, *, today: date) -> tuple[datetime, datetime]:
    """The days from ``first`` to ``last`` (both included; by default the year up to
    today) as a half-open range of UTC times."""
    last = last or today
    first = first or last - timedelta(days=364)
    if first > last:
        raise Invalid(N_("The period must not end before it starts."), field="from")
    since = datetime.combine(first, time.min, tzinfo=UTC)
    return since, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)


def _in_segment(segment: str | None) -> Any:
    """The enrollments whose contact or company is in ``segment`` (None: all of them)."""
    if not segment:
        return None
    return select(Enrollment.id).where(
        or_(
            col(Enrollment.contact_id).in_(select(Contact.id).where(Contact.segment == segment)),
            col(Enrollment.company_id).in_(select(Company.id).where(Company.segment == segment)),
        )
    )


@dataclass
class Scope:
    """One journey's phases, a period and optionally a segment: what every figure reads."""

    journey_id: int
    phases: list[Phase]
    since: datetime
    until: datetime
    enrollments: Any  # a SELECT of the segment's enrollment ids, or None for all

    def of(self, table: Any) -> list[Any]:
        """The conditions that keep ``table``'s rows to the journey and segment."""
        conditions = [table.journey_id == self.journey_id]
        if self.enrollments is not None:
            key = table.id if table is Enrollment else table.enrollment_id
            conditions.append(col(key).in_(self.enrollments))
        return conditions

    def kind(self, kind: PhaseKind) -> list[int]:
        return [p.id for p in self.phases if p.kind == kind]


def scope(
    session: Session, *, journey: Journey, since: datetime, until: datetime, segment: str | None
) -> Scope:
    phases = phases_of(session, journey, archived=True)
    return Scope(journey.id, phases, since, until, _in_segment(segment))


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
    in the period led (one GROUP BY over the stays: each knows its next step)."""
    position = {p.id: p.position for p in within.phases}
    query = (
        select(
            Transition.to_phase_id, Transition.next_phase_id, Transition.next_status, func.count()
        )
        .where(
            *within.of(Transition),
            Transition.at >= within.since,
            Transition.at < within.until,
            col(Transition.to_phase_id).is_not(None),
            # the subject's last entry into this phase in the period
            or_(col(Transition.reentered_at).is_(None), Transition.reentered_at >= within.until),
        )
        .group_by(Transition.to_phase_id, Transition.next_phase_id, Transition.next_status)
    )
    steps = {p.id: FunnelStep(phase_id=p.id) for p in within.phases}
    for phase_id, next_phase_id, next_status, count in session.execute(query):
        step = steps[phase_id]
        if next_status is None:
            outcome = "still_there"
        elif next_phase_id is None:
            outcome = "completed" if next_status == EnrollmentStatus.WON else "dropped"
        elif position[next_phase_id] > position[phase_id]:
            outcome = "moved_on"
        else:
            outcome = "went_back"
        step.entered += count
        setattr(step, outcome, getattr(step, outcome) + count)
    return steps


def _joined(session: Session, within: Scope) -> tuple[list[float], list[Cohort]]:
    """Days from joining to the first purchase phase of those who reached it, and the
    cohorts: the enrollments that began in the period by month, with their status now."""
    purchase = within.kind(PhaseKind.PURCHASE)
    first_purchase = (
        select(Transition.enrollment_id, func.min(Transition.at).label("at"))
        .where(
            *within.of(Transition),
            col(Transition.to_phase_id).in_(purchase) if purchase else false(),
        )
        .group_by(Transition.enrollment_id)
        .subquery()
    )
    joined = (
        select(
            Enrollment.started_at,
            Enrollment.status,
            first_purchase.c.at.label("closed_at"),
        )
        .outerjoin(first_purchase, first_purchase.c.enrollment_id == Enrollment.id)
        .where(
            *within.of(Enrollment),
            Enrollment.started_at >= within.since,
            Enrollment.started_at < within.until,
        )
        .subquery()
    )
    closes = list(
        session.scalars(
            select(days_between(joined.c.started_at, joined.c.closed_at)).where(
                joined.c.closed_at.is_not(None)
            )
        )
    )
    month = month_of(joined.c.started_at)
    query = select(month, joined.c.status, joined.c.closed_at.is_not(None), func.count()).group_by(
        month, joined.c.status, joined.c.closed_at.is_not(None)
    )
    cohorts: dict[str, Cohort] = {}
    for month_, status, reached, count in session.execute(query):
        cohort = cohorts.setdefault(month_, Cohort(month=month_))
        cohort.joined += count
        cohort.reached_purchase += count if reached else 0
        setattr(cohort, status, getattr(cohort, status) + count)
    return closes, [cohorts[m] for m in sorted(cohorts)]


def _churn(session: Session, within: Scope) -> tuple[int, int]:
    """The subjects in a post-purchase phase at some time in the period, and how many of
    them left as churned during it."""
    post_purchase = within.kind(PhaseKind.POST_PURCHASE)
    customers = select(Transition.enrollment_id).where(
        *within.of(Transition),
        col(Transition.to_phase_id).in_(post_purchase) if post_purchase else false(),
        Transition.at < within.until,
        or_(col(Transition.until).is_(None), Transition.until >= within.since),
    )
    churned = select(Transition.enrollment_id).where(
        *within.of(Transition),
        col(Transition.to_phase_id).is_(None),
        Transition.status == EnrollmentStatus.CHURNED,
        Transition.at >= within.since,
        Transition.at < within.until,
    )
    stay = aliased(Transition, name="stay")
    churned = churned.where(
        select(stay.id)
        .where(
            stay.enrollment_id == Transition.enrollment_id,
            col(stay.to_phase_id).in_(post_purchase),
            stay.at < within.until,
            or_(col(stay.until).is_(None), stay.until >= within.since),
        )
        .exists()
    )
    return (
        session.execute(
            select(func.count()).select_from(customers.distinct().subquery())
        ).scalar_one(),
        session.execute(
            select(func.count()).select_from(churned.distinct().subquery())
        ).scalar_one(),
    )


def _nps(session: Session, within: Scope) -> tuple[int, int, int]:
    """Promoters, detractors and answers among the NPS answers that count toward the
    journey in the period."""
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


def time_in_phase(session: Session, within: Scope) -> dict[int, TimeInPhase]:
    """Per phase, the stays that ended in the period: how long they lasted (the lengths
    are stored on the stays)."""
    query = select(Transition.to_phase_id, Transition.days).where(
        *within.of(Transition),
        col(Transition.to_phase_id).in_([p.id for p in within.phases]),
        Transition.until >= within.since,
        Transition.until < within.until,
    )
    durations: dict[int, list[float]] = defaultdict(list)
    for phase_id, days in session.execute(query):
        durations[phase_id].append(days)
    return {p.id: _time_in_phase(p.id, sorted(durations[p.id])) for p in within.phases}


def _time_in_phase(phase_id: int, days: list[float]) -> TimeInPhase:
    """The figures of ``days``, sorted."""
    result = TimeInPhase(phase_id=phase_id, stays=len(days))
    if not days:
        return result
    middle = len(days) // 2
    result.median_days = days[middle] if len(days) % 2 else (days[middle - 1] + days[middle]) / 2
    result.p90_days = days[min(len(days) - 1, int(len(days) * 0.9))]
    below = [bisect.bisect_left(days, bound) for bound in BANDS]
    result.bands = [b - a for a, b in zip([0, *below], [*below, len(days)], strict=True)]
    return result


BAND_NAMES = [f"under_{bound}_days" for bound in BANDS] + [f"{BANDS[-1]}_days_or_more"]


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
