"""The evaluation of the follow-up rules: one INSERT ... SELECT per rule (two for the
triggers that reach a subject through a deal) over every subject in its scope.
Each follow-up a rule creates carries an occasion, unique in the table:

- time in phase: the rule and the stay in the phase;
- quiet: the rule, the enrollment and the start of the quiet period (its last touchpoint);
- NPS: the rule and the answer (a touchpoint);
- date: the rule, the enrollment, the company or deal and the date itself;
- deal won: the rule, the enrollment and the deal;
- cadence: the rule, the stay and the round (days in the phase divided by N).

A re-run, an overlapping run or a catch-up after downtime finds the occasion taken and
creates nothing twice. Triggers that fire at a moment (time in phase, an answer, a won
deal) still fire for ``CATCH_UP`` after it: a run missed while the service was down
catches up, but a rule added today does not greet every customer who passed that moment
long ago. A quiet period, a cadence's round and an approaching date need no such limit.
"""

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from crm.contacts.models import Company, Contact
from crm.core.db import UTCDateTime, utcnow
from crm.core.sql import days_between, whole
from crm.deals.models import Deal, DealContact, DealStatus
from crm.followups.models import (
    NAME,
    PENDING,
    AssigneeMode,
    DateField,
    Followup,
    FollowupRule,
    FollowupStatus,
    Trigger,
)
from crm.followups.rules import phase_ids_of
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentAction, LegalBasis, Purpose
from crm.journeys import service as journey_service
from crm.journeys.models import Cause, Enrollment, EnrollmentStatus, MoveRequest, TouchpointPhase
from crm.journeys.models import PhaseTransition as Transition
from crm.touchpoints.models import Touchpoint
from crm.users.models import Role, User, UserRole

CATCH_UP = timedelta(days=7)


@dataclass
class Tally:
    created: int = 0
    # Occasions left alone for want of a legal basis for the rule's purpose.
    skipped: int = 0


def run(session: Session, *, as_of: datetime | None = None) -> Tally:
    """Apply every active rule as at ``as_of``."""
    as_of = as_of or utcnow()
    rules = list(
        session.exec(select(FollowupRule).where(col(FollowupRule.is_active).is_(True))).scalars()
    )
    phases = phase_ids_of(session, [r.id for r in rules])
    tally = Tally()
    for rule in rules:
        created, skipped = _apply(session, rule, phases[rule.id], as_of)
        tally.created += created
        tally.skipped += skipped
    return tally


def evaluate(session: Session, *, as_of: datetime | None = None) -> int:
    """Apply every active rule as at ``as_of``; how many follow-ups it created."""
    return run(session, as_of=as_of).created


def _legal_basis(session: Session, rule: FollowupRule) -> Any:
    """The condition on an enrollment that the rule may reach its subject: never a
    restricted contact; for marketing, nobody who objected or is held back until they
    consent again; for a purpose based on consent, only those who gave it. Companies are
    not people: the condition holds for them."""
    barred = [col(Contact.restricted_at).is_not(None)]
    purpose = (
        session.exec(select(Purpose).where(Purpose.key == rule.purpose)).scalars().first()
        if rule.purpose
        else None
    )
    if purpose is not None and purpose.is_marketing:
        barred += [col(Contact.objected_at).is_not(None), col(Contact.suppressed_at).is_not(None)]
    if purpose is not None and purpose.legal_basis == LegalBasis.CONSENT:
        consent = gdpr_service.decision(Contact.id, purpose.id)
        barred.append(func.coalesce(consent, "") != ConsentAction.GRANTED)
    person = select(Contact.id).where(Contact.id == Enrollment.contact_id, or_(*barred))
    return ~exists(person)


def _apply(
    session: Session, rule: FollowupRule, phase_ids: list[int], as_of: datetime
) -> tuple[int, int]:
    """(follow-ups created, occasions skipped for want of a legal basis)."""
    scope = [
        Enrollment.journey_id == rule.journey_id,
        Enrollment.status == EnrollmentStatus.ACTIVE,
    ]
    if phase_ids:
        scope.append(col(Enrollment.phase_id).in_(phase_ids))
    if rule.segment:
        scope.append(Enrollment.segment == rule.segment)
    allowed = _legal_basis(session, rule)
    trigger = _TRIGGERS[Trigger(rule.trigger)]
    skipped = sum(
        session.execute(select(func.count()).select_from(barred.subquery())).scalar_one()
        for barred in trigger(rule, as_of, [*scope, ~allowed])
    )
    created: list[Any] = []
    for occasions in trigger(rule, as_of, [*scope, allowed]):
        created += _insert(session, rule, occasions, as_of)
    if created and rule.assignee_mode == AssigneeMode.LEAST_BUSY:
        _spread(session, [row.id for row in created])
    if created and rule.move_to_phase_id is not None:
        _move(session, rule, created, as_of)
    return len(created), skipped


def _prefix(rule: FollowupRule, what: str) -> Any:
    return literal(f"rule {rule.id} {what} ")


def _as_text(value: Any) -> Any:
    return cast(value, String)


def _stay() -> Any:
    """The current stay's transition: it names the occasion of a stay."""
    return (
        select(func.max(Transition.id))
        .where(Transition.enrollment_id == Enrollment.id, Transition.at == Enrollment.phase_since)
        .scalar_subquery()
    )


def _occasions(occasion: Any, *where: Any, deal_id: Any = None) -> Select[Any]:
    """The enrollments a rule fires for, each with its occasion (and deal)."""
    return select(
        Enrollment.id.label("enrollment_id"),
        Enrollment.contact_id,
        Enrollment.company_id,
        (deal_id if deal_id is not None else cast(null(), Integer)).label("deal_id"),
        occasion.label("occasion"),
    ).where(*where)


def _time_in_phase(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    moment = as_of - timedelta(days=rule.days or 0)
    occasion = _prefix(rule, "stay") + _as_text(_stay())
    window = [Enrollment.phase_since <= moment, Enrollment.phase_since > moment - CATCH_UP]
    return [_occasions(occasion, *scope, *window)]


def _quiet(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    """Quiet since the subject's last touchpoint, or since entering the phase."""
    last_id, last_at = (_last_touch(as_of, c) for c in (Touchpoint.id, Touchpoint.occurred_at))
    touched = last_at > Enrollment.phase_since
    quiet_since = case((touched, last_at), else_=Enrollment.phase_since)
    anchor = case(
        (touched, literal(" touch ") + _as_text(last_id)),
        else_=literal(" stay ") + _as_text(_stay()),
    )
    occasion = _prefix(rule, "enrollment") + _as_text(Enrollment.id) + anchor
    return [_occasions(occasion, *scope, quiet_since <= as_of - timedelta(days=rule.days or 0))]


def _cadence(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    """Every N days in the phase: round k begins k * N days after entering it."""
    moment = literal(as_of, UTCDateTime)
    rounds = whole(days_between(Enrollment.phase_since, moment) / (rule.days or 1))
    occasion = _prefix(rule, "stay") + _as_text(_stay()) + literal(" round ") + _as_text(rounds)
    started = Enrollment.phase_since <= as_of - timedelta(days=rule.days or 0)
    return [_occasions(occasion, *scope, started)]


def _nps(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    """An answer in the range, given recently (read from the journey's NPS index)."""
    answer = [
        TouchpointPhase.journey_id == rule.journey_id,
        TouchpointPhase.occurred_at <= as_of,
        TouchpointPhase.occurred_at > as_of - CATCH_UP,
        col(TouchpointPhase.nps).is_not(None),
    ]
    if rule.nps_at_least is not None:
        answer.append(TouchpointPhase.nps >= rule.nps_at_least)
    if rule.nps_at_most is not None:
        answer.append(TouchpointPhase.nps <= rule.nps_at_most)
    occasion = _prefix(rule, "touchpoint") + _as_text(TouchpointPhase.touchpoint_id)
    query = _occasions(occasion, *scope, *answer)
    return [query.join(TouchpointPhase, TouchpointPhase.enrollment_id == Enrollment.id)]


def _date(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    """A renewal date from today to N days ahead (in UTC)."""
    today = as_of.date()
    horizon = today + timedelta(days=rule.days or 0)

    def upcoming(column: Any) -> list[Any]:
        return [column >= literal(today, Date), column <= literal(horizon, Date)]

    if rule.date_field == DateField.COMPANY_RENEWAL:
        occasion = (
            _prefix(rule, "company")
            + _as_text(Company.id)
            + literal(" date ")
            + _as_text(Company.renewal_date)
        )
        query = _occasions(occasion, *scope, *upcoming(Company.renewal_date))
        return [query.join(Company, Company.id == Enrollment.company_id)]
    occasion = (
        _prefix(rule, "deal")
        + _as_text(Deal.id)
        + literal(" enrollment ")
        + _as_text(Enrollment.id)
        + literal(" date ")
        + _as_text(Deal.renewal_date)
    )
    due = [*upcoming(Deal.renewal_date), Deal.status != DealStatus.LOST]
    return _through_deals(occasion, scope, due)


def _deal_won(rule: FollowupRule, as_of: datetime, scope: list[Any]) -> list[Select[Any]]:
    moment = as_of - timedelta(days=rule.days or 0)
    occasion = (
        _prefix(rule, "deal")
        + _as_text(Deal.id)
        + literal(" enrollment ")
        + _as_text(Enrollment.id)
    )
    won = [
        Deal.status == DealStatus.WON,
        Deal.closed_at <= moment,
        Deal.closed_at > moment - CATCH_UP,
    ]
    return _through_deals(occasion, scope, won)


def _through_deals(occasion: Any, scope: list[Any], deals: list[Any]) -> list[Select[Any]]:
    """A deal's subject: its company, or its people when it has no company."""
    of_company = _occasions(occasion, *scope, *deals, deal_id=Deal.id).join(
        Deal, Deal.company_id == Enrollment.company_id
    )
    of_people = (
        _occasions(occasion, *scope, *deals, col(Deal.company_id).is_(None), deal_id=Deal.id)
        .join(DealContact, DealContact.contact_id == Enrollment.contact_id)
        .join(Deal, Deal.id == DealContact.deal_id)
    )
    return [of_company, of_people]


_TRIGGERS = {
    Trigger.TIME_IN_PHASE: _time_in_phase,
    Trigger.QUIET: _quiet,
    Trigger.CADENCE: _cadence,
    Trigger.NPS: _nps,
    Trigger.DATE: _date,
    Trigger.DEAL_WON: _deal_won,
}


def _int(value: int | None) -> Any:
    """A number for a SELECT list that PostgreSQL types even when it is NULL."""
    return cast(literal(value), Integer)


def _insert(
    session: Session, rule: FollowupRule, occasions: Select[Any], as_of: datetime
) -> list[Any]:
    """Create the follow-ups of the occasions not taken yet; their ids and subjects."""
    fired = occasions.subquery()
    name = func.coalesce(Contact.first_name + " " + Contact.last_name, Company.name)
    before, found, after = rule.title_template.partition(NAME)
    title = literal(before) + name + literal(after) if found else literal(before)
    owner = func.coalesce(Contact.owner_id, Company.owner_id)
    assignee = _int(rule.assignee_id) if rule.assignee_mode == AssigneeMode.USER else owner
    now = literal(utcnow(), UTCDateTime)
    rows = (
        select(
            fired.c.contact_id,
            fired.c.company_id,
            fired.c.deal_id,
            title,
            literal(as_of + timedelta(days=rule.due_in_days), UTCDateTime),
            assignee,
            literal(str(FollowupStatus.OPEN)),
            _int(rule.channel_id),
            _int(rule.id),
            fired.c.occasion,
            now,
            now,
        )
        .select_from(fired)
        .outerjoin(Contact, Contact.id == fired.c.contact_id)
        .outerjoin(Company, Company.id == fired.c.company_id)
        # SQLite reads an ON after INSERT ... SELECT as a join's unless a WHERE comes first
        .where(literal(True))
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = Followup.__table__
    statement = (
        dialect.insert(table)
        .from_select(_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["occasion"])
        # the driver's rowcount of INSERT ... SELECT is -1 on PostgreSQL; the ids count
        .returning(table.c.id, table.c.contact_id, table.c.company_id)
    )
    return list(session.execute(statement).all())


_COLUMNS = [
    "contact_id",
    "company_id",
    "deal_id",
    "title",
    "due_at",
    "assignee_id",
    "status",
    "channel_id",
    "rule_id",
    "occasion",
    "created_at",
    "updated_at",
]


def _last_touch(as_of: datetime, column: Any) -> Any:
    """``column`` of the enrollment's subject's latest touchpoint up to ``as_of``: the
    contact's own, or the company's (two index seeks; one of them finds nothing)."""
    latest = [col(Touchpoint.occurred_at).desc(), col(Touchpoint.id).desc()]
    of_contact, of_company = (
        select(column)
        .where(key == subject, Touchpoint.occurred_at <= as_of)
        .order_by(*latest)
        .limit(1)
        .scalar_subquery()
        for key, subject in (
            (Touchpoint.contact_id, Enrollment.contact_id),
            (Touchpoint.company_id, Enrollment.company_id),
        )
    )
    return func.coalesce(of_contact, of_company)


def _spread(session: Session, followup_ids: list[int]) -> None:
    """Give each new follow-up to the active account manager with the fewest pending
    ones at that moment; without account managers they stay with the subject's owner."""
    managers = select(User.id).join(UserRole, UserRole.user_id == User.id)
    managers = managers.where(UserRole.role == Role.ACCOUNT_MANAGER, col(User.is_active).is_(True))
    if session.execute(managers.limit(1)).first() is None:
        return
    # The new ones are with the subjects' owners: count them at nobody's while choosing.
    session.execute(
        sql_update(Followup).where(col(Followup.id).in_(followup_ids)).values(assignee_id=None)
    )
    pending = (
        select(func.count(Followup.id))
        .where(Followup.assignee_id == User.id, col(Followup.status).in_(PENDING))
        .scalar_subquery()
    )
    loads = [(load, user_id) for user_id, load in session.execute(managers.add_columns(pending))]
    heapq.heapify(loads)
    assignments = []
    for followup_id in followup_ids:
        load, user_id = heapq.heappop(loads)
        assignments.append({"followup_id": followup_id, "user_id": user_id})
        heapq.heappush(loads, (load + 1, user_id))
    table = Followup.__table__
    statement = (
        sql_update(table)
        .where(table.c.id == bindparam("followup_id"))
        .values(assignee_id=bindparam("user_id"))
    )
    session.connection().execute(statement, assignments)


def _move(session: Session, rule: FollowupRule, created: list[Any], as_of: datetime) -> None:
    """Move the subjects the rule fired for on to its phase (a promoter to advocacy)."""
    contacts = {row.contact_id for row in created if row.contact_id}
    companies = {row.company_id for row in created if row.company_id}
    enrollments = session.exec(
        select(Enrollment).where(
            Enrollment.journey_id == rule.journey_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
            col(Enrollment.contact_id).in_(contacts) | col(Enrollment.company_id).in_(companies),
        )
    ).scalars()
    for enrollment in list(enrollments):
        if enrollment.phase_id == rule.move_to_phase_id:
            continue
        # Never before the subject's last move, never in the future (as_of may be either).
        at = max(enrollment.phase_since, min(as_of, utcnow()))
        request = MoveRequest(
            phase_id=rule.move_to_phase_id, at=at, cause=Cause.RULE, reason=rule.name[:200]
        )
        journey_service.move(session, enrollment=enrollment, data=request, actor_id=None)
