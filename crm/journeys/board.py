"""What the journey pages read: the board's columns and cards, a subject's journeys, and
the moves shown on timelines."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from crm.contacts.models import Company, Contact
from crm.core.db import utcnow
from crm.core.pagination import keyset_page
from crm.journeys import counts
from crm.journeys.models import Enrollment, EnrollmentStatus, Journey, Phase
from crm.journeys.models import PhaseTransition as Transition
from crm.journeys.service import SECONDS_PER_DAY, list_journeys, phases_by_journey, phases_of
from crm.touchpoints import service as touchpoint_service
from crm.users.models import User

CARDS_PER_COLUMN = 20


@dataclass
class BoardFilter:
    owner_id: int | None = None
    segment: str | None = None
    stale: bool = False


@dataclass
class Card:
    enrollment_id: int
    contact_id: int | None
    company_id: int | None
    name: str
    company_name: str | None
    owner_name: str | None
    days: float
    stale: bool
    last_touch_at: datetime | None

    @property
    def url(self) -> str:
        return (
            f"/contacts/{self.contact_id}" if self.contact_id else f"/companies/{self.company_id}"
        )


@dataclass
class Column:
    phase: Phase
    count: int
    cards: list[Card]
    next_cursor: str | None


def _subjects(filters: BoardFilter) -> Any:
    """Enrollments whose contact or company has the filter's owner and segment."""
    conditions = []
    for model, key in ((Contact, Enrollment.contact_id), (Company, Enrollment.company_id)):
        wanted = []
        if filters.owner_id is not None:
            wanted.append(model.owner_id == filters.owner_id)
        if filters.segment:
            wanted.append(model.segment == filters.segment)
        if wanted:
            conditions.append(col(key).in_(select(model.id).where(*wanted)))
    return or_(*conditions) if conditions else None


def stale_since(phase: Phase, now: datetime) -> datetime | None:
    return now - timedelta(days=phase.target_days) if phase.target_days else None


def _in_column(phase: Phase, filters: BoardFilter, now: datetime) -> list[Any]:
    conditions = [
        Enrollment.journey_id == phase.journey_id,
        Enrollment.status == EnrollmentStatus.ACTIVE,
        Enrollment.phase_id == phase.id,
    ]
    if (subjects := _subjects(filters)) is not None:
        conditions.append(subjects)
    if filters.stale:
        since = stale_since(phase, now)
        conditions.append(col(Enrollment.phase_since) < since if since else false())
    return conditions


def board(
    session: Session, *, journey: Journey, filters: BoardFilter, now: datetime | None = None
) -> list[Column]:
    """One column per phase: how many subjects are there, and those there longest."""
    now = now or utcnow()
    phases = phases_of(session, journey)
    counts = _counts(session, journey, phases, filters, now)
    pages = {
        p.id: column_page(session, phase=p, filters=filters, now=now, load=False) for p in phases
    }
    cards = _cards(session, [e for rows, _ in pages.values() for e in rows], phases, now)
    return [
        Column(
            phase,
            counts.get(phase.id, 0),
            [cards[e.id] for e in pages[phase.id][0]],
            pages[phase.id][1],
        )
        for phase in phases
    ]


def _counts(
    session: Session, journey: Journey, phases: list[Phase], filters: BoardFilter, now: datetime
) -> dict[int, int]:
    if filters == BoardFilter():  # the whole board: kept as enrollments change
        return counts.active_by_phase(session, phase_ids=[p.id for p in phases])
    conditions = [Enrollment.journey_id == journey.id, Enrollment.status == EnrollmentStatus.ACTIVE]
    if (subjects := _subjects(filters)) is not None:
        conditions.append(subjects)
    if filters.stale:
        conditions.append(
            or_(
                false(),
                *(
                    and_(Enrollment.phase_id == p.id, col(Enrollment.phase_since) < since)
                    for p in phases
                    if (since := stale_since(p, now))
                ),
            )
        )
    query = (
        select(Enrollment.phase_id, func.count()).where(*conditions).group_by(Enrollment.phase_id)
    )
    return dict(session.exec(query).all())


def column_page(
    session: Session,
    *,
    phase: Phase,
    filters: BoardFilter,
    cursor: str | None = None,
    now: datetime | None = None,
    load: bool = True,
) -> Any:
    """A column's enrollments, longest in the phase first, and the next cursor; with
    ``load``, as cards."""
    now = now or utcnow()
    # Plain rows, not ORM objects: a board shows a hundred cards or more.
    query = select(
        Enrollment.id,
        Enrollment.contact_id,
        Enrollment.company_id,
        Enrollment.phase_id,
        Enrollment.phase_since,
    ).where(*_in_column(phase, filters, now))
    keys = [col(Enrollment.phase_since), col(Enrollment.id)]
    rows, next_cursor = keyset_page(
        session, query, keys, descending=False, cursor=cursor, limit=CARDS_PER_COLUMN
    )
    if not load:
        return rows, next_cursor
    cards = _cards(session, rows, [phase], now)
    return [cards[e.id] for e in rows], next_cursor


def _cards(
    session: Session, enrollments: list[Any], phases: list[Phase], now: datetime
) -> dict[int, Card]:
    """Cards for the enrollments, with a few queries for all of them."""
    contact_ids = {e.contact_id for e in enrollments if e.contact_id}
    contacts = (
        {
            c.id: c
            for c in session.exec(
                select(
                    Contact.id,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.company_id,
                    Contact.owner_id,
                ).where(col(Contact.id).in_(contact_ids))
            )
        }
        if contact_ids
        else {}
    )
    company_ids = {e.company_id for e in enrollments if e.company_id} | {
        c.company_id for c in contacts.values() if c.company_id
    }
    companies = (
        {
            c.id: c
            for c in session.exec(
                select(Company.id, Company.name, Company.owner_id).where(
                    col(Company.id).in_(company_ids)
                )
            )
        }
        if company_ids
        else {}
    )
    owners = dict(session.exec(select(User.id, User.name)).all())
    last_touch = touchpoint_service.last_touches(
        session,
        contact_ids=contact_ids,
        company_ids={e.company_id for e in enrollments if e.company_id},
    )
    targets = {p.id: p.target_days for p in phases}
    cards = {}
    for e in enrollments:
        subject = contacts[e.contact_id] if e.contact_id else companies[e.company_id]
        company = companies.get(subject.company_id) if e.contact_id else None
        name = f"{subject.first_name} {subject.last_name}".strip() if e.contact_id else subject.name
        days = (now - e.phase_since).total_seconds() / SECONDS_PER_DAY
        target = targets.get(e.phase_id)
        cards[e.id] = Card(
            enrollment_id=e.id,
            contact_id=e.contact_id,
            company_id=e.company_id,
            name=name,
            company_name=company.name if company else None,
            owner_name=owners.get(subject.owner_id),
            days=days,
            stale=bool(target and days > target),
            last_touch_at=last_touch.get(
                ("contact", e.contact_id) if e.contact_id else ("company", e.company_id)
            ),
        )
    return cards


# --- a subject's journeys and moves --------------------------------------------------------


@dataclass
class Membership:
    enrollment: Enrollment
    journey: Journey
    phase: Phase
    phases: list[Phase]  # where it may move
    via_company: bool  # the contact's company is enrolled, not the contact
    days: float


def memberships(
    session: Session, *, contact: Contact | None = None, company: Company | None = None
) -> list[Membership]:
    """The subject's enrollments; for a contact, its company's as well."""
    conditions = []
    if contact is not None:
        conditions.append(Enrollment.contact_id == contact.id)
        if contact.company_id:
            conditions.append(Enrollment.company_id == contact.company_id)
    if company is not None:
        conditions.append(Enrollment.company_id == company.id)
    query = (
        select(Enrollment, Journey, Phase)
        .select_from(Enrollment)
        .join(Journey, Journey.id == Enrollment.journey_id)
        .join(Phase, Phase.id == Enrollment.phase_id)
    )
    rows = session.exec(query.where(or_(*conditions)).order_by(Journey.name)).all()
    phases = phases_by_journey(session, {journey.id for _, journey, _ in rows})
    now = utcnow()
    return [
        Membership(
            enrollment,
            journey,
            phase,
            phases[journey.id],
            via_company=contact is not None and enrollment.contact_id is None,
            days=((enrollment.ended_at or now) - enrollment.phase_since).total_seconds()
            / SECONDS_PER_DAY,
        )
        for enrollment, journey, phase in rows
    ]


# Named once: an alias made per call would make each query a new one to compile.
FROM_PHASE, TO_PHASE = aliased(Phase, name="from_phase"), aliased(Phase, name="to_phase")


@dataclass
class Move:
    """A transition as a timeline shows it (plain values: every contact page reads these)."""

    id: int
    occurred_at: datetime
    status: str
    reason: str | None
    note: str | None
    journey_name: str
    from_phase_name: str | None
    to_phase_name: str | None


def moves(
    session: Session,
    *,
    contact_id: int | None = None,
    company_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> list[Move]:
    """The subject's transitions with ``since <= at < before``, newest first, in one query."""
    subject = (
        Enrollment.contact_id == contact_id
        if contact_id is not None
        else Enrollment.company_id == company_id
    )
    from_phase, to_phase = FROM_PHASE, TO_PHASE
    query = (
        select(
            Transition.id,
            Transition.at,
            Transition.status,
            Transition.reason,
            Transition.note,
            Journey.name,
            from_phase.name,
            to_phase.name,
        )
        .join(Enrollment, Enrollment.id == Transition.enrollment_id)
        .join(Journey, Journey.id == Enrollment.journey_id)
        .outerjoin(from_phase, from_phase.id == Transition.from_phase_id)
        .outerjoin(to_phase, to_phase.id == Transition.to_phase_id)
        .where(subject)
    )
    if since is not None:
        query = query.where(Transition.at >= since)
    if before is not None:
        query = query.where(Transition.at < before)
    query = query.order_by(col(Transition.at).desc(), col(Transition.id).desc())
    return [Move(*row) for row in session.exec(query).all()]


def journey_choices(session: Session) -> list[tuple[Journey, list[Phase]]]:
    """The journeys a subject may join, with their phases."""
    journeys = list_journeys(session)
    phases = phases_by_journey(session, {j.id for j in journeys})
    return [(j, phases[j.id]) for j in journeys]
