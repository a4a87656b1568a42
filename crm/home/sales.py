"""The sales rep's home: what is due, who was touched lately, own deals, what is stuck."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import nulls_last, or_
from sqlmodel import Session, col, select

from crm.contacts.models import Company, Contact
from crm.deals import board as deal_board
from crm.deals.models import Deal, DealStage, DealStatus, Pipeline, StageKind
from crm.followups import service as followup_service
from crm.home.models import DealItem, RecentContact, SalesHome, StageDeals, StaleEnrollment
from crm.home.subjects import SHOWN, followup_items, subject_of, subjects_named
from crm.journeys import board as journey_board
from crm.journeys import service as journey_service
from crm.journeys.models import Enrollment, EnrollmentStatus, Phase
from crm.touchpoints.models import Touchpoint
from crm.users.models import User

RECENT_DAYS = 90
# The home lists this many of the owner's open deals.
OPEN_DEALS = 100
# "Recently touched" looks at this many of the user's latest touchpoints.
RECENT_TOUCHPOINTS = 200


def sales_home(session: Session, *, user: User, time_zone: ZoneInfo, now: datetime) -> SalesHome:
    groups = followup_service.planner(
        session, assignee_id=user.id, time_zone=time_zone, now=now, limit=SHOWN
    )
    deals = _open_deals(session, owner_id=user.id, now=now)
    return SalesHome(
        overdue=followup_items(session, groups["overdue"].followups),
        today=followup_items(session, groups["today"].followups),
        recent_contacts=_recent_contacts(session, user_id=user.id, now=now),
        open_deals=deals,
        stale_deals=[deal for stage in deals for deal in stage.deals if deal.stale][:SHOWN],
        stale_enrollments=_stale_enrollments(session, owner_id=user.id, now=now),
    )


def _recent_contacts(session: Session, *, user_id: int, now: datetime) -> list[RecentContact]:
    """The people the user logged touchpoints with lately, the latest first: read from
    their latest touchpoints only (an index range), however many they ever logged."""
    latest = session.exec(
        select(Touchpoint.contact_id, Touchpoint.occurred_at)
        .where(
            Touchpoint.logged_by_id == user_id,
            Touchpoint.occurred_at >= now - timedelta(days=RECENT_DAYS),
            col(Touchpoint.contact_id).is_not(None),
        )
        .order_by(col(Touchpoint.logged_by_id).desc(), col(Touchpoint.occurred_at).desc())
        .limit(RECENT_TOUCHPOINTS)
    )
    last_touch: dict[int, datetime] = {}
    for contact_id, at in latest:
        last_touch.setdefault(contact_id, at)
        if len(last_touch) == SHOWN:
            break
    subjects = subjects_named(session, [(contact_id, None) for contact_id in last_touch])
    return [
        RecentContact(id=contact_id, name=subjects[("contact", contact_id)].name, last_touch_at=at)
        for contact_id, at in last_touch.items()
        if ("contact", contact_id) in subjects
    ]


def _open_deals(session: Session, *, owner_id: int, now: datetime) -> list[StageDeals]:
    """The owner's open deals by pipeline and stage, the next step soonest first; a deal
    longer in its stage than the stage's target is stale. One index range per stage, in
    the order shown, until OPEN_DEALS are found: an owner may hold tens of thousands."""
    stages = session.exec(
        select(DealStage, Pipeline.name)
        .join(Pipeline, Pipeline.id == DealStage.pipeline_id)
        .where(DealStage.kind == StageKind.OPEN)  # a won or lost stage closes its deals
        .order_by(Pipeline.name, DealStage.position, DealStage.id)
    )
    columns, left = [], OPEN_DEALS
    for stage, pipeline in stages.all():
        deals = session.exec(
            select(Deal)
            .where(
                Deal.owner_id == owner_id,
                Deal.status == DealStatus.OPEN,
                Deal.stage_id == stage.id,
            )
            .order_by(nulls_last(col(Deal.next_step_date)), Deal.id)
            .limit(left)
        ).all()
        if not deals:
            continue
        since = deal_board.stale_since(stage, now)
        items = [
            DealItem.model_validate(d, update={"stale": bool(since and d.stage_since < since)})
            for d in deals
        ]
        columns.append(
            StageDeals(pipeline=pipeline, stage_id=stage.id, stage=stage.name, deals=items)
        )
        left -= len(deals)
        if not left:
            break
    return columns


def _stale_enrollments(session: Session, *, owner_id: int, now: datetime) -> list[StaleEnrollment]:
    """Active enrollments of the owner's contacts and companies that stay in their phase
    longer than its target, the longest over first. One index range per phase, so the
    size of the journeys does not matter."""
    # Joined by key and tested per enrollment, never collected: an owner may own thousands.
    owned = or_(Contact.owner_id == owner_id, Company.owner_id == owner_id)
    stale: list[tuple[Enrollment, Phase]] = []
    for phase in journey_service.phases_with_targets(session):
        query = (
            select(Enrollment)
            .outerjoin(Contact, Contact.id == Enrollment.contact_id)
            .outerjoin(Company, Company.id == Enrollment.company_id)
            .where(
                Enrollment.journey_id == phase.journey_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.phase_id == phase.id,
                Enrollment.phase_since < journey_board.stale_since(phase, now),
                owned,
            )
            .order_by(Enrollment.phase_since)
            .limit(SHOWN)
        )
        stale += [(enrollment, phase) for enrollment in session.exec(query)]
    stale.sort(key=lambda pair: pair[0].phase_since + timedelta(days=pair[1].target_days))
    stale = stale[:SHOWN]
    subjects = subjects_named(session, [(e.contact_id, e.company_id) for e, _ in stale])
    return [
        StaleEnrollment(
            id=enrollment.id,
            subject=subject_of(subjects, enrollment.contact_id, enrollment.company_id),
            journey_id=enrollment.journey_id,
            phase=phase.name,
            days_in_phase=(now - enrollment.phase_since).days,
            target_days=phase.target_days,
        )
        for enrollment, phase in stale
    ]
