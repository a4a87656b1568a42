"""What the home page shows each role, and what the search finds: read models only."""

from datetime import date, datetime
from decimal import Decimal

from sqlmodel import SQLModel


class Subject(SQLModel):
    """A contact or a company, as a list names it."""

    kind: str  # "contact" or "company"
    id: int
    name: str


class FollowupItem(SQLModel):
    id: int
    title: str
    due_at: datetime
    subject: Subject | None


class RecentContact(SQLModel):
    id: int
    name: str
    last_touch_at: datetime


class DealItem(SQLModel):
    id: int
    title: str
    amount: Decimal
    currency: str
    next_step: str | None
    next_step_date: date | None
    stale: bool


class StageDeals(SQLModel):
    pipeline: str
    stage_id: int
    stage: str
    deals: list[DealItem]


class StaleEnrollment(SQLModel):
    id: int
    subject: Subject
    journey_id: int
    phase: str
    days_in_phase: int
    target_days: int


class SalesHome(SQLModel):
    overdue: list[FollowupItem]
    today: list[FollowupItem]
    recent_contacts: list[RecentContact]
    open_deals: list[StageDeals]
    stale_deals: list[DealItem]
    stale_enrollments: list[StaleEnrollment]


class QuietCustomer(SQLModel):
    enrollment_id: int
    subject: Subject
    phase: str
    target_days: int
    last_touch_at: datetime | None
    quiet_days: int


class Renewal(SQLModel):
    kind: str  # "company" or "deal"
    id: int
    name: str
    renewal_date: date


class NpsAnswer(SQLModel):
    touchpoint_id: int
    subject: Subject | None
    score: int
    category: str  # "detractor", "passive" or "promoter"
    occurred_at: datetime


class PlannerCounts(SQLModel):
    overdue: int
    today: int
    this_week: int


class AccountHome(SQLModel):
    planner: PlannerCounts
    due: list[FollowupItem]
    quiet_customers: list[QuietCustomer]
    renewals: list[Renewal]
    nps: list[NpsAnswer]


class RequestItem(SQLModel):
    id: int
    kind: str
    requester_name: str
    status: str
    due_date: date
    overdue: bool


class Withdrawal(SQLModel):
    contact_id: int
    name: str
    purpose: str
    occurred_at: datetime


class Objection(SQLModel):
    contact_id: int
    name: str
    objected_at: datetime


class PrivacyHome(SQLModel):
    requests: list[RequestItem]
    retention_proposals: int
    withdrawals: list[Withdrawal]
    objections: list[Objection]
    purposes: int


class RunItem(SQLModel):
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    created: int
    error: str | None


class UserItem(SQLModel):
    id: int
    name: str
    email: str
    roles: list[str]
    is_active: bool


class ImportItem(SQLModel):
    id: int
    kind: str
    filename: str
    status: str
    rows_done: int
    rows_total: int
    failed: int
    created_at: datetime


class AdminHome(SQLModel):
    runs: list[RunItem]
    users: list[UserItem]
    imports: list[ImportItem]


class ChecklistStep(SQLModel):
    key: str
    url: str
    done: bool


class Home(SQLModel):
    """The signed-in user's home: one section per role they hold, in this order."""

    sections: list[str]
    sales: SalesHome | None = None
    account: AccountHome | None = None
    privacy: PrivacyHome | None = None
    admin: AdminHome | None = None
    # The first-run checklist, for administrators until they dismiss it.
    checklist: list[ChecklistStep] | None = None


class SearchHit(SQLModel):
    id: int
    title: str
    detail: str | None
    url: str


class SearchResults(SQLModel):
    """Contacts, companies and deals matching ``q``, a few of each."""

    q: str
    contacts: list[SearchHit]
    companies: list[SearchHit]
    deals: list[SearchHit]
