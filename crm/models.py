"""Every table model, imported so that ``SQLModel.metadata`` is complete for Alembic."""

from sqlmodel import SQLModel

from crm.contacts.models import (
    Company,
    CompanyTag,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Tag,
)
from crm.core.audit import AuditEvent
from crm.core.idempotency import IdempotentRequest
from crm.deals.models import (
    Deal,
    DealContact,
    DealStage,
    DealStageChange,
    ForecastChange,
    ForecastTotal,
    LostReason,
    Pipeline,
)
from crm.followups.models import (
    CalendarFeed,
    Followup,
    FollowupRule,
    FollowupRulePhase,
    FollowupRun,
)
from crm.gdpr.models import (
    ConsentEvent,
    ConsentText,
    Erasure,
    ErasureMention,
    PrivacyRequest,
    PrivacySettings,
    Purpose,
    RetentionProposal,
    Suppression,
)
from crm.imports.models import ImportChunk, ImportJob, ImportProblem
from crm.journeys.daily import (
    CustomerDay,
    CustomerDayChange,
    EnrollmentDay,
    EnrollmentDayChange,
    StayEndDay,
    StayEndDayChange,
    StayStartDay,
    StayStartDayChange,
    TouchpointDay,
    TouchpointDayChange,
)
from crm.journeys.models import (
    Enrollment,
    ExitReason,
    Journey,
    Phase,
    PhaseCount,
    PhaseCountChange,
    PhaseTransition,
    TouchpointPhase,
)
from crm.mail.models import (
    IgnoredSender,
    MailAttachment,
    Mailbox,
    MailboxFolder,
    MailMessage,
    MailReceipt,
    OutboxMail,
    TriageEntry,
)
from crm.mail.template_models import MailTemplate
from crm.scheduler import JOBSTORE_TABLE
from crm.touchpoints.models import Channel, Outcome, Touchpoint
from crm.users.models import ApiToken, LoginAttempt, User, UserRole

metadata = SQLModel.metadata


# Search structures that only one backend has, created by hand in their migrations:
# SQLite's FTS5 table (with its shadow tables contact_fts_*), PostgreSQL's words of the
# contacts' search text and its trigram GIN indexes (the contact search; the free text
# an erasure looks for mentions in).
FTS_TABLE = "contact_fts"
WORD_TABLES = {"contact_word", "search_word"}
# The free text of the tables that grow with the customer base, where an erasure seeks
# mentions of the person.
MENTION_INDEXED = {
    "touchpoint": ["summary", "notes"],
    "phase_transition": ["reason", "note"],
    "contact": ["notes"],
    "company": ["notes"],
    "deal": ["title", "next_step", "notes", "lost_note"],
    "followup": ["title", "notes"],
}
TRIGRAM_INDEXES = {
    "ix_contact_search_trgm",
    *(
        f"ix_{table}_{column}_trgm"
        for table, columns in MENTION_INDEXED.items()
        for column in columns
    ),
}


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """What autogenerate compares: not APScheduler's job table, not backend-only search."""
    name = name or ""
    if type_ == "table":
        return name not in {JOBSTORE_TABLE, *WORD_TABLES} and not name.startswith(FTS_TABLE)
    return not (type_ == "index" and name in TRIGRAM_INDEXES)


__all__ = [
    "ApiToken",
    "AuditEvent",
    "CalendarFeed",
    "Channel",
    "Company",
    "CompanyTag",
    "ConsentEvent",
    "ConsentText",
    "Contact",
    "ContactEmail",
    "ContactPhone",
    "ContactTag",
    "CustomerDay",
    "CustomerDayChange",
    "Deal",
    "DealContact",
    "DealStage",
    "DealStageChange",
    "Enrollment",
    "EnrollmentDay",
    "EnrollmentDayChange",
    "Erasure",
    "ErasureMention",
    "ExitReason",
    "Followup",
    "FollowupRule",
    "FollowupRulePhase",
    "FollowupRun",
    "ForecastChange",
    "ForecastTotal",
    "IdempotentRequest",
    "IgnoredSender",
    "ImportChunk",
    "ImportJob",
    "ImportProblem",
    "Journey",
    "LoginAttempt",
    "LostReason",
    "MailAttachment",
    "MailMessage",
    "MailReceipt",
    "MailTemplate",
    "Mailbox",
    "MailboxFolder",
    "OutboxMail",
    "Outcome",
    "Phase",
    "PhaseCount",
    "PhaseCountChange",
    "PhaseTransition",
    "Pipeline",
    "PrivacyRequest",
    "PrivacySettings",
    "Purpose",
    "RetentionProposal",
    "StayEndDay",
    "StayEndDayChange",
    "StayStartDay",
    "StayStartDayChange",
    "Suppression",
    "Tag",
    "Touchpoint",
    "TouchpointDay",
    "TouchpointDayChange",
    "TouchpointPhase",
    "TriageEntry",
    "User",
    "UserRole",
    "include_object",
    "metadata",
]
