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
- NPS: from the touchpoints with an NPS answer in the period of subjects in the journey:
  the share of promoters (9-10) minus the share of detractors (0-6), in points.
- Time in phase: the stays that ended in the period, per phase: median and 90th
  percentile in days, and how many fell into each band.
- Cohorts: the subjects that joined in each month of the period, and where they are now.
"""

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import false, func, or_, select
from sqlmodel import Session, col

from crm.contacts.models import Company, Contact
from crm.core.errors import N_, Invalid
from crm.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    PhaseKind,
)
from crm.journeys.models import PhaseTransition as Transition
from crm.journeys.service import SECONDS_PER_DAY, phases_of
from crm.touchpoints.models import Touchpoint

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


def _subjects_in_segment(segment: str | None) -> Any:
    if not segment:
        return None
    return or_(
        col(Enrollment.contact_id).in_(select(Contact.id).where(Contact.segment == segment)),
        col(Enrollment.company_id).in_(select(Company.id).where(Company.segment == segment)),
    )


def figures(
    session: Session,
    *,
    journey: Journey,
    since: datetime,
    until: datetime,
    segment: str | None = None,
) -> Figures:
    phases = phases_of(session, journey, archived=True)
    position = {p.id: p.position for p in phases}
    purchase = {p.id for p in phases if p.kind == PhaseKind.PURCHASE}
    post_purchase = {p.id for p in phases if p.kind == PhaseKind.POST_PURCHASE}
    in_journey = [Enrollment.journey_id == journey.id]
    if (in_segment := _subjects_in_segment(segment)) is not None:
        in_journey.append(in_segment)

    # Every transition that ends after the period began: the stays that overlap it, and
    # everything after them, which tells what became of them.
    rows = session.execute(
        select(
            Transition.enrollment_id,
            Transition.to_phase_id,
            Transition.status,
            Transition.at,
            Transition.until,
        )
        .join(Enrollment, Enrollment.id == Transition.enrollment_id)
        .where(*in_journey, or_(col(Transition.until).is_(None), Transition.until >= since))
        .order_by(Transition.enrollment_id, Transition.at, Transition.id)
    ).all()
    histories: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        histories[row.enrollment_id].append(row)

    funnel = {p.id: FunnelStep(phase_id=p.id) for p in phases}
    durations: dict[int, list[float]] = defaultdict(list)
    customers, churned = set(), set()
    for enrollment_id, history in histories.items():
        entered: dict[int, str] = {}  # phase -> the outcome of its last stay in the period
        for stay, after in zip(history, [*history[1:], None], strict=True):
            phase = stay.to_phase_id
            if phase is None:
                if stay.status == EnrollmentStatus.CHURNED and since <= stay.at < until:
                    churned.add(enrollment_id)
                continue
            if stay.until is not None and since <= stay.until < until:
                durations[phase].append((stay.until - stay.at).total_seconds() / SECONDS_PER_DAY)
            if phase in post_purchase and stay.at < until:
                customers.add(enrollment_id)
            if since <= stay.at < until:
                entered[phase] = _outcome(after, position.get(phase, 0), position)
        for phase, outcome in entered.items():
            step = funnel[phase]
            step.entered += 1
            setattr(step, outcome, getattr(step, outcome) + 1)

    joined = _joined(session, in_journey, since, until, purchase)
    converted = [j for j in joined if j["closed_at"] is not None]
    to_close = [
        (j["closed_at"] - j["started_at"]).total_seconds() / SECONDS_PER_DAY for j in converted
    ]
    promoters, detractors, answers = _nps(session, in_journey, since, until)
    customers_in_period = len(customers)
    return Figures(
        funnel=[funnel[p.id] for p in phases if not p.is_archived or funnel[p.id].entered],
        joined=len(joined),
        converted=len(converted),
        conversion_rate=len(converted) / len(joined) if joined else None,
        time_to_close_median_days=statistics.median(to_close) if to_close else None,
        customers=customers_in_period,
        churned=len(churned & customers),
        churn_rate=len(churned & customers) / customers_in_period if customers_in_period else None,
        nps=round((promoters - detractors) * 100 / answers, 1) if answers else None,
        nps_answers=answers,
        time_in_phase=[_time_in_phase(p.id, durations[p.id]) for p in phases if not p.is_archived],
        cohorts=_cohorts(joined),
    )


def _outcome(after: Any, from_position: int, position: dict[int, int]) -> str:
    if after is None:
        return "still_there"
    if after.to_phase_id is None:
        return "completed" if after.status == EnrollmentStatus.WON else "dropped"
    return "moved_on" if position.get(after.to_phase_id, 0) > from_position else "went_back"


def _joined(
    session: Session, in_journey: list[Any], since: datetime, until: datetime, purchase: set[int]
) -> list[dict[str, Any]]:
    """The enrollments that began in the period, with when they first reached a purchase
    phase (if they did) and their status now."""
    first_purchase = (
        select(func.min(Transition.at))
        .where(
            Transition.enrollment_id == Enrollment.id,
            col(Transition.to_phase_id).in_(purchase) if purchase else false(),
        )
        .scalar_subquery()
    )
    query = select(
        Enrollment.started_at, Enrollment.status, first_purchase.label("closed_at")
    ).where(*in_journey, Enrollment.started_at >= since, Enrollment.started_at < until)
    return [dict(row._mapping) for row in session.execute(query)]


def _nps(
    session: Session, in_journey: list[Any], since: datetime, until: datetime
) -> tuple[int, int, int]:
    """Promoters, detractors and answers among the period's NPS answers of subjects in
    the journey: a contact's own, or logged with a company that is in it."""
    enrolled = or_(
        select(Enrollment.id)
        .where(*in_journey, Enrollment.contact_id == Touchpoint.contact_id)
        .exists(),
        select(Enrollment.id)
        .where(*in_journey, Enrollment.company_id == Touchpoint.company_id)
        .exists(),
    )
    query = select(
        func.count().filter(Touchpoint.nps >= 9),
        func.count().filter(Touchpoint.nps <= 6),
        func.count(),
    ).where(
        col(Touchpoint.nps).is_not(None),
        Touchpoint.occurred_at >= since,
        Touchpoint.occurred_at < until,
        enrolled,
    )
    promoters, detractors, answers = session.execute(query).one()
    return promoters, detractors, answers


def _time_in_phase(phase_id: int, days: list[float]) -> TimeInPhase:
    result = TimeInPhase(phase_id=phase_id, stays=len(days))
    if not days:
        return result
    days = sorted(days)
    result.median_days = statistics.median(days)
    result.p90_days = days[min(len(days) - 1, int(len(days) * 0.9))]
    for value in days:
        band = next((i for i, bound in enumerate(BANDS) if value < bound), len(BANDS))
        result.bands[band] += 1
    return result


def _cohorts(joined: list[dict[str, Any]]) -> list[Cohort]:
    cohorts: dict[str, Cohort] = {}
    for j in joined:
        month = j["started_at"].strftime("%Y-%m")
        cohort = cohorts.setdefault(month, Cohort(month=month))
        cohort.joined += 1
        cohort.reached_purchase += j["closed_at"] is not None
        status = j["status"]
        setattr(cohort, status, getattr(cohort, status) + 1)
    return [cohorts[month] for month in sorted(cohorts)]


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
