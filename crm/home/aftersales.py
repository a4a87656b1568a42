"""The account manager's home: the planner's counts, quiet customers, renewals, NPS."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from crm.contacts.models import Company
from crm.deals.models import Deal, DealStatus
from crm.followups import service as followup_service
from crm.home.models import AccountHome, NpsAnswer, PlannerCounts, QuietCustomer, Renewal
from crm.home.subjects import SHOWN, followup_items, subject_of, subjects_named
from crm.journeys import service as journey_service
from crm.journeys.models import Enrollment, EnrollmentStatus, Phase, PhaseKind
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Touchpoint
from crm.users.models import User

RENEWAL_DAYS = 90
NPS_DAYS = 30


def account_home(
    session: Session, *, user: User, time_zone: ZoneInfo, now: datetime
) -> AccountHome:
    groups = followup_service.planner(
        session, assignee_id=user.id, time_zone=time_zone, now=now, limit=SHOWN
    )
    due = [f for key in ("overdue", "today", "this_week") for f in groups[key].followups]
    return AccountHome(
        planner=PlannerCounts(
            overdue=groups["overdue"].total,
            today=groups["today"].total,
            this_week=groups["this_week"].total,
        ),
        due=followup_items(session, due[:SHOWN]),
        quiet_customers=_quiet_customers(session, now=now),
        renewals=_renewals(session, now=now),
        nps=_nps_answers(session, now=now),
    )


def _quiet_customers(session: Session, *, now: datetime) -> list[QuietCustomer]:
    """Customers in an after-sales phase with a target, in it longer than that and with
    no touchpoint within it; the quietest first. Per phase, the enrollments longest in it
    are tried first (an index range) and each is probed for a recent touchpoint (an index
    seek), until enough are found."""
    candidates: list[tuple[Enrollment, Phase]] = []
    for phase in journey_service.phases_with_targets(session, PhaseKind.POST_PURCHASE):
        cutoff = now - timedelta(days=phase.target_days)
        touched = (
            select(Touchpoint.id)
            .where(
                or_(
                    and_(
                        col(Enrollment.contact_id).is_not(None),
                        Touchpoint.contact_id == Enrollment.contact_id,
                    ),
                    and_(
                        col(Enrollment.company_id).is_not(None),
                        Touchpoint.company_id == Enrollment.company_id,
                    ),
                ),
                Touchpoint.occurred_at >= cutoff,
            )
            .correlate(Enrollment)
            .exists()
        )
        query = (
            select(Enrollment)
            .where(
                Enrollment.journey_id == phase.journey_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.phase_id == phase.id,
                Enrollment.phase_since < cutoff,
                ~touched,
            )
            .order_by(Enrollment.phase_since)
            .limit(SHOWN)
        )
        candidates += [(enrollment, phase) for enrollment in session.exec(query)]
    last_touches = touchpoint_service.last_touches(
        session,
        contact_ids={e.contact_id for e, _ in candidates if e.contact_id},
        company_ids={e.company_id for e, _ in candidates if e.company_id},
    )
    quiet = []
    for enrollment, phase in candidates:
        touched_at = last_touches.get(_subject_key(enrollment))
        since = max(touched_at, enrollment.phase_since) if touched_at else enrollment.phase_since
        quiet.append((enrollment, phase, touched_at, since))
    quiet.sort(key=lambda item: item[3])
    quiet = quiet[:SHOWN]
    subjects = subjects_named(session, [(e.contact_id, e.company_id) for e, *_ in quiet])
    return [
        QuietCustomer(
            enrollment_id=enrollment.id,
            subject=subject_of(subjects, enrollment.contact_id, enrollment.company_id),
            phase=phase.name,
            target_days=phase.target_days,
            last_touch_at=touched_at,
            quiet_days=(now - since).days,
        )
        for enrollment, phase, touched_at, since in quiet
    ]


def _subject_key(enrollment: Enrollment) -> tuple[str, int]:
    if enrollment.contact_id:
        return ("contact", enrollment.contact_id)
    return ("company", enrollment.company_id)


def _renewals(session: Session, *, now: datetime) -> list[Renewal]:
    """Companies' and deals' renewal dates in the coming months, the soonest first."""
    today = now.date()
    until = today + timedelta(days=RENEWAL_DAYS)
    companies = select(Company.id, Company.name, Company.renewal_date).where(
        col(Company.renewal_date).between(today, until)
    )
    deals = select(Deal.id, Deal.title, Deal.renewal_date).where(
        col(Deal.renewal_date).between(today, until), Deal.status != DealStatus.LOST
    )
    found = [
        Renewal(kind=kind, id=id_, name=name, renewal_date=day)
        for kind, query in (("company", companies), ("deal", deals))
        for id_, name, day in session.exec(query.order_by("renewal_date").limit(SHOWN))
    ]
    return sorted(found, key=lambda r: (r.renewal_date, r.kind, r.id))[:SHOWN]


def nps_category(score: int) -> str:
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


def _nps_answers(session: Session, *, now: datetime) -> list[NpsAnswer]:
    """The latest answers of the last weeks, detractors first: they need a call."""
    rows = []
    for score in (col(Touchpoint.nps) <= 6, col(Touchpoint.nps) > 6):
        rows += session.exec(
            select(
                Touchpoint.id,
                Touchpoint.contact_id,
                Touchpoint.company_id,
                Touchpoint.nps,
                Touchpoint.occurred_at,
            )
            .where(
                col(Touchpoint.nps).is_not(None),
                score,
                Touchpoint.occurred_at >= now - timedelta(days=NPS_DAYS),
            )
            .order_by(col(Touchpoint.occurred_at).desc())
            .limit(SHOWN)
        ).all()
    rows = rows[:SHOWN]
    subjects = subjects_named(session, [(row.contact_id, row.company_id) for row in rows])
    return [
        NpsAnswer(
            touchpoint_id=row.id,
            subject=subject_of(subjects, row.contact_id, row.company_id),
            score=row.nps,
            category=nps_category(row.nps),
            occurred_at=row.occurred_at,
        )
        for row in rows
    ]
