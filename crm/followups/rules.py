"""Follow-up rules: editing them, the default set, and their evaluation.

Evaluation is one INSERT ... SELECT per rule over every subject in its scope. A
time-in-phase rule fires from its moment (N days into the stay) for ``CATCH_UP``. Each
follow-up a rule creates carries an occasion, unique in the table: the rule and the stay
in the phase (time in phase), or the rule, the enrollment and the start of the quiet period
(no touchpoint). A re-run, an overlapping run or a catch-up after downtime finds the
occasion taken and creates nothing twice.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, case, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from crm.contacts.models import Company, Contact
from crm.core import audit
from crm.core.db import UTCDateTime, utcnow
from crm.core.errors import N_, Invalid
from crm.followups.models import (
    NAME,
    AssigneeMode,
    Followup,
    FollowupRule,
    FollowupRun,
    FollowupStatus,
    RuleCreate,
    Trigger,
)
from crm.journeys.models import Enrollment, EnrollmentStatus, Journey, Phase
from crm.journeys.models import PhaseTransition as Transition
from crm.touchpoints.models import Touchpoint
from crm.users import service as user_service

# How long after its moment a time-in-phase rule still fires: a run missed while the
# service was down catches up, but a rule added today does not greet every customer who
# passed that day long ago. A quiet period has no such limit: it is still quiet.
CATCH_UP = timedelta(days=7)

# The Classic journey's after-sales rules on a new installation (DOMAIN.md, after-sales).
DEFAULT_RULES = [
    (
        "Onboarding check-in",
        "retention",
        Trigger.TIME_IN_PHASE,
        14,
        "Onboarding check-in with {name}",
        2,
    ),
    ("Loyalty check-in", "retention", Trigger.QUIET, 90, "Loyalty check-in with {name}", 3),
    (
        "Ask for a review",
        "advocacy",
        Trigger.TIME_IN_PHASE,
        7,
        "Ask {name} for a review or referral",
        5,
    ),
]


def list_rules(session: Session) -> list[FollowupRule]:
    return list(
        session.exec(select(FollowupRule).order_by(FollowupRule.name, FollowupRule.id)).scalars()
    )


def recent_runs(session: Session, *, limit: int = 50) -> list[FollowupRun]:
    query = select(FollowupRun).order_by(col(FollowupRun.started_at).desc()).limit(limit)
    return list(session.exec(query).scalars())


def create_rule(session: Session, *, data: RuleCreate, actor_id: int | None) -> FollowupRule:
    journey = session.get(Journey, data.journey_id)
    if journey is None:
        raise Invalid(N_("Choose one of the offered values."), field="journey_id")
    if data.phase_id is not None:
        phase = session.get(Phase, data.phase_id)
        if phase is None or phase.journey_id != journey.id:
            raise Invalid(N_("Choose a phase of this journey."), field="phase_id")
    if data.assignee_mode == AssigneeMode.USER:
        user_service.check_active_user(session, data.assignee_id, field="assignee_id")
    rule = FollowupRule.model_validate(data)
    return audit.save(session, rule, actor_id=actor_id, action="followup_rule.create")


def seed_default_rules(session: Session) -> None:
    """The default after-sales rules, when the Classic journey exists and has no rules."""
    journey = session.exec(select(Journey).where(Journey.name == "Classic")).scalars().first()
    if journey is None:
        return
    if session.exec(select(FollowupRule.id).where(FollowupRule.journey_id == journey.id)).first():
        return
    phases = {
        p.key: p.id
        for p in session.exec(select(Phase).where(Phase.journey_id == journey.id)).scalars()
    }
    for name, phase, trigger, days, title, due in DEFAULT_RULES:
        if phase in phases:
            session.add(
                FollowupRule(
                    name=name,
                    journey_id=journey.id,
                    phase_id=phases[phase],
                    trigger=trigger,
                    days=days,
                    title_template=title,
                    due_in_days=due,
                    purpose="customer_relationship",
                )
            )
    session.flush()


def evaluate(session: Session, *, as_of: datetime | None = None) -> int:
    """Apply every active rule as at ``as_of``; returns how many follow-ups it created."""
    as_of = as_of or utcnow()
    rules = session.exec(
        select(FollowupRule).where(col(FollowupRule.is_active).is_(True))
    ).scalars()
    return sum(_apply(session, rule, as_of) for rule in rules)


def _apply(session: Session, rule: FollowupRule, as_of: datetime) -> int:
    name = func.coalesce(Contact.first_name + " " + Contact.last_name, Company.name)
    before, found, after = rule.title_template.partition(NAME)
    title = literal(before) + name + literal(after) if found else literal(before)
    assignee = (
        func.coalesce(Contact.owner_id, Company.owner_id)
        if rule.assignee_mode == AssigneeMode.OWNER
        else literal(rule.assignee_id)
    )
    threshold = as_of - timedelta(days=rule.days)
    in_scope = [
        Enrollment.journey_id == rule.journey_id,
        Enrollment.status == EnrollmentStatus.ACTIVE,
    ]
    if rule.phase_id is not None:
        in_scope.append(Enrollment.phase_id == rule.phase_id)
    if rule.segment:
        in_scope.append(Enrollment.segment == rule.segment)
    # The current stay: its transition names the occasion of a time-in-phase rule.
    stay = (
        select(func.max(Transition.id))
        .where(Transition.enrollment_id == Enrollment.id, Transition.at == Enrollment.phase_since)
        .scalar_subquery()
    )
    if rule.trigger == Trigger.TIME_IN_PHASE:
        occasion = literal(f"rule {rule.id} stay ") + cast(stay, String)
        # A moment in a stay: caught up for a while after it, never years later.
        in_scope += [
            Enrollment.phase_since <= threshold,
            Enrollment.phase_since > threshold - CATCH_UP,
        ]
    else:
        # A quiet period starts at the subject's last touchpoint, or on entering the phase.
        last_id, last_at = (
            _last_touch(as_of, column) for column in (Touchpoint.id, Touchpoint.occurred_at)
        )
        touched = last_at > Enrollment.phase_since
        quiet_since = case((touched, last_at), else_=Enrollment.phase_since)
        anchor = case(
            (touched, literal(" touch ") + cast(last_id, String)),
            else_=literal(" stay ") + cast(stay, String),
        )
        occasion = literal(f"rule {rule.id} enrollment ") + cast(Enrollment.id, String) + anchor
        in_scope.append(quiet_since <= threshold)
    now = utcnow()
    rows = (
        select(
            Enrollment.contact_id,
            Enrollment.company_id,
            title,
            literal(as_of + timedelta(days=rule.due_in_days), UTCDateTime),
            assignee,
            literal(str(FollowupStatus.OPEN)),
            literal(rule.id),
            occasion,
            literal(now, UTCDateTime),
            literal(now, UTCDateTime),
        )
        .select_from(Enrollment)
        .outerjoin(Contact, Contact.id == Enrollment.contact_id)
        .outerjoin(Company, Company.id == Enrollment.company_id)
        .where(*in_scope)
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Followup.__table__)
        .from_select(_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["occasion"])
        # the driver's rowcount of INSERT ... SELECT is -1 on PostgreSQL; the ids count
        .returning(Followup.__table__.c.id)
    )
    return len(session.execute(statement).all())


_COLUMNS = [
    "contact_id",
    "company_id",
    "title",
    "due_at",
    "assignee_id",
    "status",
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
