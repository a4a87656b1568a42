"""Each role's home: what that user works on today, read in a few bounded queries per
section. No HTTP in here."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from crm.contacts.models import Company, Contact
from crm.core.audit import AuditEvent
from crm.core.db import utcnow
from crm.deals.models import Deal, DealStage, DealStatus, Pipeline, StageKind
from crm.followups import rules as followup_rules
from crm.followups import service as followup_service
from crm.followups.models import Followup
from crm.gdpr import cases
from crm.gdpr.models import (
    ConsentAction,
    ConsentEvent,
    ProposalStatus,
    Purpose,
    RetentionProposal,
)
from crm.home.models import (
    AccountHome,
    AdminHome,
    ChecklistStep,
    DealItem,
    FollowupItem,
    Home,
    ImportItem,
    NpsAnswer,
    Objection,
    PlannerCounts,
    PrivacyHome,
    QuietCustomer,
    RecentContact,
    Renewal,
    RequestItem,
    RunItem,
    SalesHome,
    StageDeals,
    StaleEnrollment,
    Subject,
    UserItem,
    Withdrawal,
)
from crm.imports import service as import_service
from crm.journeys.models import Enrollment, EnrollmentStatus, Phase, PhaseKind
from crm.touchpoints.models import Touchpoint
from crm.users import service as user_service
from crm.users.models import Role, User

# Each list on a home shows at most this many; its own page shows the rest.
SHOWN = 10
RECENT_DAYS = 90
# "Recently touched" looks at this many of the user's latest touchpoints.
RECENT_TOUCHPOINTS = 200
RENEWAL_DAYS = 90
NPS_DAYS = 30
PRIVACY_DAYS = 30
# Sections in the order a user holding several roles sees them.
SECTIONS = (
    (Role.SALES_REP, "sales"),
    (Role.ACCOUNT_MANAGER, "account"),
    (Role.DPO, "privacy"),
    (Role.ADMIN, "admin"),
)


def home(session: Session, *, user: User, time_zone: ZoneInfo, now: datetime | None = None) -> Home:
    now = now or utcnow()
    sections = [key for role, key in SECTIONS if user.has_role(role)]
    builders = {
        "sales": lambda: sales_home(session, user=user, time_zone=time_zone, now=now),
        "account": lambda: account_home(session, user=user, time_zone=time_zone, now=now),
        "privacy": lambda: privacy_home(session, now=now),
        "admin": lambda: admin_home(session, user=user),
    }
    found = Home(sections=sections, **{key: builders[key]() for key in sections})
    if "admin" in sections and user.checklist_dismissed_at is None:
        found.checklist = checklist(session)
    return found


def dismiss_checklist(session: Session, *, user: User) -> None:
    user.checklist_dismissed_at = utcnow()
    session.add(user)
    session.flush()


# --- subjects -----------------------------------------------------------------------


def _subjects(
    session: Session, pairs: list[tuple[int | None, int | None]]
) -> dict[tuple[str, int], Subject]:
    """Contacts and companies by ("contact" | "company", id), for (contact_id, company_id)
    pairs, in one query per kind."""
    found: dict[tuple[str, int], Subject] = {}
    contact_ids = {c for c, _ in pairs if c}
    company_ids = {c for _, c in pairs if c}
    if contact_ids:
        query = select(Contact.id, Contact.first_name, Contact.last_name).where(
            col(Contact.id).in_(contact_ids)
        )
        for id_, first, last in session.exec(query):
            found[("contact", id_)] = Subject(kind="contact", id=id_, name=f"{first} {last}")
    if company_ids:
        query = select(Company.id, Company.name).where(col(Company.id).in_(company_ids))
        for id_, name in session.exec(query):
            found[("company", id_)] = Subject(kind="company", id=id_, name=name)
    return found


def _subject_of(
    subjects: dict[tuple[str, int], Subject], contact_id: int | None, company_id: int | None
) -> Subject | None:
    if contact_id:
        return subjects.get(("contact", contact_id))
    return subjects.get(("company", company_id)) if company_id else None


def _followup_items(session: Session, followups: list[Followup]) -> list[FollowupItem]:
    subjects = _subjects(session, [(f.contact_id, f.company_id) for f in followups])
    return [
        FollowupItem(
            id=f.id,
            title=f.title,
            due_at=f.due_at,
            subject=_subject_of(subjects, f.contact_id, f.company_id),
        )
        for f in followups
    ]


# --- sales rep ----------------------------------------------------------------------


def sales_home(session: Session, *, user: User, time_zone: ZoneInfo, now: datetime) -> SalesHome:
    groups = followup_service.planner(
        session, assignee_id=user.id, time_zone=time_zone, now=now, limit=SHOWN
    )
    deals = _open_deals(session, owner_id=user.id, now=now)
    return SalesHome(
        overdue=_followup_items(session, groups["overdue"].followups),
        today=_followup_items(session, groups["today"].followups),
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
    subjects = _subjects(session, [(contact_id, None) for contact_id in last_touch])
    return [
        RecentContact(id=contact_id, name=subjects[("contact", contact_id)].name, last_touch_at=at)
        for contact_id, at in last_touch.items()
        if ("contact", contact_id) in subjects
    ]


def _open_deals(session: Session, *, owner_id: int, now: datetime) -> list[StageDeals]:
    """The owner's open deals by pipeline and stage, the next step soonest first; a deal
    longer in its stage than the stage's target is stale."""
    query = (
        select(Deal, DealStage, Pipeline.name)
        .join(DealStage, DealStage.id == Deal.stage_id)
        .join(Pipeline, Pipeline.id == Deal.pipeline_id)
        .where(Deal.owner_id == owner_id, Deal.status == DealStatus.OPEN)
        .order_by(
            Pipeline.name,
            DealStage.position,
            col(Deal.next_step_date).is_(None),
            Deal.next_step_date,
            Deal.id,
        )
        .limit(100)
    )
    columns: dict[int, StageDeals] = {}
    for deal, stage, pipeline in session.exec(query):
        column = columns.setdefault(
            stage.id, StageDeals(pipeline=pipeline, stage_id=stage.id, stage=stage.name, deals=[])
        )
        stale = bool(
            stage.kind == StageKind.OPEN
            and stage.target_days
            and deal.stage_since < now - timedelta(days=stage.target_days)
        )
        column.deals.append(
            DealItem(
                id=deal.id,
                title=deal.title,
                amount=deal.amount,
                currency=deal.currency,
                next_step=deal.next_step,
                next_step_date=deal.next_step_date,
                stale=stale,
            )
        )
    return list(columns.values())


def _phases_with_targets(session: Session, *kinds: PhaseKind) -> list[Phase]:
    query = select(Phase).where(col(Phase.target_days).is_not(None))
    if kinds:
        query = query.where(col(Phase.kind).in_(kinds))
    return list(session.exec(query))


def _stale_enrollments(session: Session, *, owner_id: int, now: datetime) -> list[StaleEnrollment]:
    """Active enrollments of the owner's contacts and companies that stay in their phase
    longer than its target, the longest over first. One index range per phase, so the
    size of the journeys does not matter."""
    # Joined by key and tested per enrollment, never collected: an owner may own thousands.
    owned = or_(Contact.owner_id == owner_id, Company.owner_id == owner_id)
    stale: list[tuple[Enrollment, Phase]] = []
    for phase in _phases_with_targets(session):
        query = (
            select(Enrollment)
            .outerjoin(Contact, Contact.id == Enrollment.contact_id)
            .outerjoin(Company, Company.id == Enrollment.company_id)
            .where(
                Enrollment.journey_id == phase.journey_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.phase_id == phase.id,
                Enrollment.phase_since < now - timedelta(days=phase.target_days),
                owned,
            )
            .order_by(Enrollment.phase_since)
            .limit(SHOWN)
        )
        stale += [(enrollment, phase) for enrollment in session.exec(query)]
    stale.sort(key=lambda pair: pair[0].phase_since + timedelta(days=pair[1].target_days))
    stale = stale[:SHOWN]
    subjects = _subjects(session, [(e.contact_id, e.company_id) for e, _ in stale])
    return [
        StaleEnrollment(
            id=enrollment.id,
            subject=_subject_of(subjects, enrollment.contact_id, enrollment.company_id),
            journey_id=enrollment.journey_id,
            phase=phase.name,
            days_in_phase=(now - enrollment.phase_since).days,
            target_days=phase.target_days,
        )
        for enrollment, phase in stale
    ]


# --- account manager ----------------------------------------------------------------


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
        due=_followup_items(session, due[:SHOWN]),
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
    for phase in _phases_with_targets(session, PhaseKind.POST_PURCHASE):
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
    last_touches = _last_touches(session, [e for e, _ in candidates])
    quiet = []
    for enrollment, phase in candidates:
        touched_at = last_touches.get(_subject_key(enrollment))
        since = max(touched_at, enrollment.phase_since) if touched_at else enrollment.phase_since
        quiet.append((enrollment, phase, touched_at, since))
    quiet.sort(key=lambda item: item[3])
    quiet = quiet[:SHOWN]
    subjects = _subjects(session, [(e.contact_id, e.company_id) for e, *_ in quiet])
    return [
        QuietCustomer(
            enrollment_id=enrollment.id,
            subject=_subject_of(subjects, enrollment.contact_id, enrollment.company_id),
            phase=phase.name,
            target_days=phase.target_days,
            last_touch_at=touched_at,
            quiet_days=(now - since).days,
        )
        for enrollment, phase, touched_at, since in quiet
    ]


def _aware(value: datetime | str) -> datetime:
    """A max() over a UTC column comes back naive (SQLite: as text); it is UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))


def _subject_key(enrollment: Enrollment) -> tuple[str, int]:
    if enrollment.contact_id:
        return ("contact", enrollment.contact_id)
    return ("company", enrollment.company_id)


def _last_touches(
    session: Session, enrollments: list[Enrollment]
) -> dict[tuple[str, int], datetime]:
    """The latest touchpoint of each enrollment's subject, one grouped query per kind."""
    found: dict[tuple[str, int], datetime] = {}
    for kind, column in (("contact", Touchpoint.contact_id), ("company", Touchpoint.company_id)):
        ids = {key[1] for key in map(_subject_key, enrollments) if key[0] == kind}
        if ids:
            query = (
                select(column, func.max(Touchpoint.occurred_at))
                .where(col(column).in_(ids))
                .group_by(column)
            )
            for id_, at in session.exec(query):
                found[(kind, id_)] = _aware(at)
    return found


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
    subjects = _subjects(session, [(row.contact_id, row.company_id) for row in rows])
    return [
        NpsAnswer(
            touchpoint_id=row.id,
            subject=_subject_of(subjects, row.contact_id, row.company_id),
            score=row.nps,
            category=nps_category(row.nps),
            occurred_at=row.occurred_at,
        )
        for row in rows
    ]


# --- data protection officer --------------------------------------------------------


def privacy_home(session: Session, *, now: datetime) -> PrivacyHome:
    requests, _ = cases.list_requests(session, open_only=True, limit=SHOWN)
    since = now - timedelta(days=PRIVACY_DAYS)
    withdrawals = (
        select(ConsentEvent.contact_id, Contact.first_name, Contact.last_name, Purpose.name)
        .add_columns(ConsentEvent.occurred_at)
        .join(Contact, Contact.id == ConsentEvent.contact_id)
        .join(Purpose, Purpose.id == ConsentEvent.purpose_id)
        .where(ConsentEvent.action == ConsentAction.WITHDRAWN, ConsentEvent.occurred_at >= since)
        .order_by(col(ConsentEvent.occurred_at).desc())
        .limit(SHOWN)
    )
    objections = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.objected_at)
        .where(Contact.objected_at >= since)
        .order_by(col(Contact.objected_at).desc())
        .limit(SHOWN)
    )
    proposals = select(func.count()).where(RetentionProposal.status == ProposalStatus.PROPOSED)
    return PrivacyHome(
        requests=[
            RequestItem(
                id=r.id,
                kind=r.kind,
                requester_name=r.requester_name,
                status=r.status,
                due_date=r.due_date,
                overdue=cases.is_overdue(r, today=now.date()),
            )
            for r in requests
        ],
        retention_proposals=session.exec(proposals).one(),
        withdrawals=[
            Withdrawal(contact_id=c, name=f"{first} {last}", purpose=purpose, occurred_at=at)
            for c, first, last, purpose, at in session.exec(withdrawals)
        ],
        objections=[
            Objection(contact_id=c, name=f"{first} {last}", objected_at=at)
            for c, first, last, at in session.exec(objections)
        ],
        purposes=session.exec(select(func.count()).select_from(Purpose)).one(),
    )


# --- administrator ------------------------------------------------------------------


def admin_home(session: Session, *, user: User) -> AdminHome:
    return AdminHome(
        runs=[
            RunItem(
                id=run.id,
                job=run.job,
                started_at=run.started_at,
                finished_at=run.finished_at,
                created=run.created,
                error=run.error,
            )
            for run in followup_rules.recent_runs(session, limit=5)
        ],
        users=[
            UserItem(
                id=u.id,
                name=u.name,
                email=u.email,
                roles=sorted(u.roles),
                is_active=u.is_active,
            )
            for u in user_service.list_users(session)[:SHOWN]
        ],
        imports=[
            ImportItem(
                id=job.id,
                kind=job.kind,
                filename=job.filename,
                status=job.status,
                rows_done=job.rows_done,
                rows_total=job.rows_total,
                failed=job.failed,
                created_at=job.created_at,
            )
            for job in import_service.list_imports(session, user=user, limit=5)
        ],
    )


# The first-run checklist: each step, its page, and the records whose change by a
# person shows it done.
CHECKLIST = (
    ("journeys", "/journeys", ("journey", "phase")),
    ("users", "/users", ()),
    ("import", "/imports?kind=contacts", ()),
    ("rules", "/followups/rules", ("followup_rule",)),
    ("purposes", "/privacy/register", ("purpose",)),
)


def checklist(session: Session) -> list[ChecklistStep]:
    def changed(entity_types: tuple[str, ...]) -> bool:
        query = select(AuditEvent.id).where(
            col(AuditEvent.entity_type).in_(entity_types), col(AuditEvent.actor_id).is_not(None)
        )
        return session.exec(query.limit(1)).first() is not None

    done = {
        "users": user_service.count_users(session) > 1,
        "import": session.exec(select(Contact.id).limit(1)).first() is not None,
    }
    return [
        ChecklistStep(key=key, url=url, done=done[key] if key in done else changed(types))
        for key, url, types in CHECKLIST
    ]
