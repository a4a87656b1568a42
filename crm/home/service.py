"""Each role's home: what that user works on today, read in a few bounded queries per
section (sales and after-sales in their own modules). No HTTP in here."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.contacts.models import Contact
from crm.core.audit import AuditEvent
from crm.core.db import utcnow
from crm.followups import rules as followup_rules
from crm.gdpr import cases
from crm.gdpr.models import (
    ConsentAction,
    ConsentEvent,
    ProposalStatus,
    Purpose,
    RetentionProposal,
)
from crm.home.aftersales import account_home
from crm.home.models import (
    AdminHome,
    ChecklistStep,
    Home,
    ImportItem,
    Objection,
    PrivacyHome,
    RequestItem,
    RunItem,
    UserItem,
    Withdrawal,
)
from crm.home.sales import sales_home
from crm.home.subjects import SHOWN
from crm.imports import service as import_service
from crm.users import service as user_service
from crm.users.models import Role, User

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
            RequestItem.model_validate(r, update={"overdue": cases.is_overdue(r, today=now.date())})
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
    users = user_service.list_users(session)[:SHOWN]
    return AdminHome(
        runs=[RunItem.model_validate(run) for run in followup_rules.recent_runs(session, limit=5)],
        users=[UserItem.model_validate(u, update={"roles": sorted(u.roles)}) for u in users],
        imports=[
            ImportItem.model_validate(job)
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
