"""The GDPR module's records: the register of processing (purposes), consent texts and
the append-only consent log, and data subject requests handled as cases."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, field_validator
from sqlalchemy import JSON, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.errors import N_
from crm.core.schemas import Moment, Strict, blank_is_none


class LegalBasis(StrEnum):
    """Art. 6(1) GDPR."""

    CONSENT = "a"
    CONTRACT = "b"
    LEGAL_OBLIGATION = "c"
    VITAL_INTERESTS = "d"
    PUBLIC_TASK = "e"
    LEGITIMATE_INTERESTS = "f"


LEGAL_BASIS_NAMES = {
    LegalBasis.CONSENT: N_("Art. 6(1)(a): consent"),
    LegalBasis.CONTRACT: N_("Art. 6(1)(b): contract"),
    LegalBasis.LEGAL_OBLIGATION: N_("Art. 6(1)(c): legal obligation"),
    LegalBasis.VITAL_INTERESTS: N_("Art. 6(1)(d): vital interests"),
    LegalBasis.PUBLIC_TASK: N_("Art. 6(1)(e): public task"),
    LegalBasis.LEGITIMATE_INTERESTS: N_("Art. 6(1)(f): legitimate interests"),
}


class Purpose(SQLModel, table=True):
    """One processing activity of the register (Art. 30): what data is processed for
    what, on which legal basis, for whom, and for how long."""

    __tablename__ = "purpose"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    key: str = column(Privacy.NONE, max_length=40, unique=True)
    name: str = column(Privacy.NONE, max_length=120)
    description: str = column(Privacy.NONE, default="", max_length=4000)
    legal_basis: str = column(Privacy.NONE, max_length=1)
    data_categories: str = column(Privacy.NONE, default="", max_length=2000)
    recipients: str = column(Privacy.NONE, default="", max_length=2000)
    source: str = column(Privacy.NONE, default="", max_length=2000)
    # How long the data may be kept without another basis; None: as long as the contract.
    retention_months: int | None = column(Privacy.NONE, default=None)
    is_marketing: bool = column(Privacy.NONE, default=False)
    is_active: bool = column(Privacy.NONE, default=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class ConsentText(SQLModel, table=True):
    """The words a person agreed to, per purpose and language; never changed once
    written (a change is a new version), and fingerprinted by their SHA-256."""

    __tablename__ = "consent_text"
    __table_args__ = (UniqueConstraint("purpose_id", "language", "version"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    purpose_id: int = column(Privacy.NONE, foreign_key="purpose.id", ondelete="CASCADE")
    language: str = column(Privacy.NONE, max_length=8)
    version: int = column(Privacy.NONE)
    body: str = column(Privacy.NONE, max_length=10_000)
    sha256: str = column(Privacy.NONE, max_length=64)
    created_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    created_at: datetime = timestamp(default_factory=utcnow)


class ConsentAction(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    OPT_IN_SENT = "opt_in_sent"
    OPT_IN_CONFIRMED = "opt_in_confirmed"


class ConsentSource(StrEnum):
    FORM = "form"
    PHONE = "phone"
    EMAIL = "email"
    IMPORT = "import"
    API = "api"
    LINK = "link"  # the signed link given to the contact
    IN_PERSON = "in_person"


class ConsentEvent(SQLModel, table=True):
    """One line of a contact's consent log; lines are only ever added. The current
    state of a consent is the latest grant or withdrawal."""

    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_log", "contact_id", "purpose_id", "occurred_at"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    # None once the person is erased and the record kept on a legal ground (erasure_id).
    contact_id: int | None = column(Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE")
    erasure_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="erasure.id", ondelete="SET NULL"
    )
    purpose_id: int = column(Privacy.NONE, foreign_key="purpose.id")
    action: str = column(Privacy.NONE, max_length=20)
    source: str = column(Privacy.NONE, max_length=20)
    # The text agreed to (for a grant or an opt-in).
    consent_text_id: int | None = column(Privacy.NONE, default=None, foreign_key="consent_text.id")
    occurred_at: datetime = timestamp(default_factory=utcnow)
    # The evidence: who recorded it, and for web forms where it came from.
    recorded_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    ip: str | None = column(Privacy.PERSONAL, default=None, max_length=45)
    user_agent: str | None = column(Privacy.PERSONAL, default=None, max_length=500)
    note: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)


class RequestKind(StrEnum):
    ACCESS = "access"  # Art. 15
    PORTABILITY = "portability"  # Art. 20
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    OBJECTION = "objection"  # Art. 21


class RequestStatus(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REFUSED = "refused"


OPEN_STATUSES = (RequestStatus.RECEIVED, RequestStatus.IN_PROGRESS)


class PrivacyRequest(SQLModel, table=True):
    """A data subject's request, handled as a case within its deadline."""

    __tablename__ = "privacy_request"
    __table_args__ = (
        CheckConstraint("extended_months BETWEEN 0 AND 2", name="extension_at_most_two_months"),
        Index("ix_privacy_request_due", "status", "due_date"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    kind: str = column(Privacy.NONE, max_length=20)
    contact_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="contact.id", ondelete="SET NULL", index=True
    )
    # Who asked, as they gave it: they need not be a contact (yet, or any more).
    requester_name: str = column(Privacy.PERSONAL, max_length=200)
    requester_email: str | None = column(Privacy.PERSONAL, default=None, max_length=254)
    received_at: datetime = timestamp()
    identity_verified_at: datetime | None = timestamp(default=None)
    due_date: date = column(Privacy.NONE)
    extended_months: int = column(Privacy.NONE, default=0)
    extension_reason: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)
    status: str = column(Privacy.NONE, default=RequestStatus.RECEIVED, max_length=20)
    handler_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=10_000)
    outcome: str | None = column(Privacy.FREE_TEXT, default=None, max_length=4000)
    # Why a request was refused (Art. 12(5), 17(3), 21(1)...), when it was.
    refusal_ground: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)
    # Set by the daily job when the deadline is a week or less away.
    due_soon_at: datetime | None = timestamp(default=None)
    # The latest export's file under the export folder, deleted after a week.
    export_file: str | None = column(Privacy.NONE, default=None, max_length=100)
    exported_at: datetime | None = timestamp(default=None)
    closed_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class Erasure(SQLModel, table=True):
    """The tombstone of an erased contact: which id was erased, when, by whom, on which
    request and how many records went; never who the person was."""

    __tablename__ = "erasure"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int = column(Privacy.NONE, index=True)
    request_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="privacy_request.id", ondelete="SET NULL"
    )
    erased_at: datetime = timestamp(default_factory=utcnow)
    by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    # Rows per kind of record: what went, and what was kept without the person.
    counts: dict[str, int] = column(Privacy.NONE, default_factory=dict, sa_type=JSON)
    # The legal ground on which consent records were kept (Art. 17(3)(b) and (e)).
    kept_on: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)


class ErasureMention(SQLModel, table=True):
    """Free text in someone else's record that named the erased person: the DPO redacts
    it by hand. Points to the place, never copies the text."""

    __tablename__ = "erasure_mention"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    erasure_id: int = column(Privacy.NONE, foreign_key="erasure.id", ondelete="CASCADE", index=True)
    table_name: str = column(Privacy.NONE, max_length=64)
    row_id: int = column(Privacy.NONE)
    column_name: str = column(Privacy.NONE, max_length=64)
    redacted_at: datetime | None = timestamp(default=None)


class SuppressionReason(StrEnum):
    OBJECTION = "objection"
    ERASURE = "erasure"


class Suppression(SQLModel, table=True):
    """Someone who objected or was erased, known only by keyed hashes (HMAC with the
    server's secret) of their normalised addresses and numbers: enough to recognise them
    when they are entered again, never enough to tell who they are."""

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("key_hash"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    key_hash: str = column(Privacy.NONE, max_length=64)
    reason: str = column(Privacy.NONE, max_length=16)
    created_at: datetime = timestamp(default_factory=utcnow)


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    DISMISSED = "dismissed"


class RetentionProposal(SQLModel, table=True):
    """A contact the daily job found without a remaining reason to keep them; the DPO
    approves (erases) or dismisses it. An erased contact's proposal goes with them."""

    __tablename__ = "retention_proposal"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int = column(
        Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE", unique=True
    )
    # "lead" or "customer": which period ran out.
    rule: str = column(Privacy.NONE, max_length=16)
    last_activity_at: datetime = timestamp()
    proposed_at: datetime = timestamp(default_factory=utcnow)
    status: str = column(Privacy.NONE, default=ProposalStatus.PROPOSED, max_length=16)
    decided_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    decided_at: datetime | None = timestamp(default=None)


class PrivacySettings(SQLModel, table=True):
    """The DPO's choices; one row."""

    __tablename__ = "privacy_settings"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    # Whether administrators may see and handle requests too.
    admins_may_handle: bool = column(Privacy.NONE, default=False)
    # Leads (never bought) with no activity and no consent for this long are proposed for
    # erasure; customers after the customer relationship purpose's retention period.
    lead_retention_months: int = column(Privacy.NONE, default=24)
    # Mail from unknown senders waits this long in the triage inbox, then goes unread.
    mail_triage_days: int = column(Privacy.NONE, default=30)
    updated_at: datetime = timestamp(default_factory=utcnow)


# --- request and response schemas -----------------------------------------------------

Key = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Language = Annotated[
    str, StringConstraints(min_length=2, max_length=8, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
]
Text = Annotated[str, StringConstraints(max_length=2000)]


class PurposeFields(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=4000)
    legal_basis: LegalBasis | None = None
    data_categories: str | None = Field(default=None, max_length=2000)
    recipients: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=2000)
    retention_months: int | None = Field(default=None, gt=0, le=1200)
    is_marketing: bool | None = None
    is_active: bool | None = None


class PurposeCreate(Strict, PurposeFields):
    key: Key
    name: str = Field(min_length=1, max_length=120)
    legal_basis: LegalBasis
    description: str = Field(default="", max_length=4000)
    data_categories: Text = ""
    recipients: Text = ""
    source: Text = ""
    is_marketing: bool = False
    is_active: bool = True


class PurposeUpdate(Strict, PurposeFields):
    """Only the fields sent change; ``retention_months`` sent as null keeps no limit."""


class PurposePublic(SQLModel):
    id: int
    key: str
    name: str
    description: str
    legal_basis: LegalBasis
    data_categories: str
    recipients: str
    source: str
    retention_months: int | None
    is_marketing: bool
    is_active: bool


class ConsentTextCreate(Strict, SQLModel):
    language: Language
    body: str = Field(min_length=1, max_length=10_000)


class ConsentTextPublic(SQLModel):
    id: int
    purpose_id: int
    language: str
    version: int
    body: str
    sha256: str
    created_at: datetime


class ConsentChange(Strict, SQLModel):
    """A grant or a withdrawal, recorded for a contact."""

    purpose: str = Field(description="The purpose's key.")
    action: ConsentAction
    source: ConsentSource = ConsentSource.API
    language: str | None = Field(
        default=None, description="Of the text agreed to; the contact's language if not given."
    )
    occurred_at: Moment | None = Field(default=None, description="When; now if not given.")
    note: str | None = Field(default=None, max_length=2000)

    _blank_is_none = field_validator("language", "note", mode="before")(blank_is_none)


class ConsentEventPublic(SQLModel):
    id: int
    purpose: str
    action: ConsentAction
    source: ConsentSource
    text_version: int | None
    text_sha256: str | None
    occurred_at: datetime
    recorded_by_id: int | None
    ip: str | None
    user_agent: str | None
    note: str | None


class ConsentState(SQLModel):
    purpose: str
    purpose_name: str
    granted: bool
    since: datetime | None
    text_version: int | None
    latest_version: int | None
    needs_renewal: bool = Field(description="Granted to an older text than the current one.")
    withdrawal_url: str | None = Field(
        default=None, description="A link the contact can use to withdraw it, without login."
    )


class Consents(SQLModel):
    states: list[ConsentState]
    log: list[ConsentEventPublic]


class RequestCreate(Strict, SQLModel):
    kind: RequestKind
    requester_name: str = Field(min_length=1, max_length=200)
    requester_email: str | None = Field(default=None, max_length=254)
    contact_id: int | None = None
    received_at: Moment | None = Field(default=None, description="Now if not given.")
    handler_id: int | None = None
    notes: str | None = Field(default=None, max_length=10_000)

    _blank_is_none = field_validator("requester_email", "notes", mode="before")(blank_is_none)


class RequestUpdate(Strict, SQLModel):
    """Only the fields sent change."""

    contact_id: int | None = None
    handler_id: int | None = None
    notes: str | None = Field(default=None, max_length=10_000)
    status: RequestStatus | None = None
    identity_verified: bool | None = Field(
        default=None, description="True records the identity as verified now."
    )
    outcome: str | None = Field(default=None, max_length=4000)
    refusal_ground: str | None = Field(default=None, max_length=2000)


class RequestExtension(Strict, SQLModel):
    months: int = Field(ge=1, le=2, description="One or two months more, once.")
    reason: str = Field(min_length=1, max_length=2000)


class RequestPublic(SQLModel):
    id: int
    kind: RequestKind
    contact_id: int | None
    requester_name: str
    requester_email: str | None
    received_at: datetime
    identity_verified_at: datetime | None
    due_date: date
    extended_months: int
    extension_reason: str | None
    status: RequestStatus
    handler_id: int | None
    notes: str | None
    outcome: str | None
    refusal_ground: str | None
    due_soon_at: datetime | None
    exported_at: datetime | None
    closed_at: datetime | None
    overdue: bool


class RequestsPage(SQLModel):
    items: list[RequestPublic]
    next_cursor: str | None


class PrivacySettingsPublic(Strict, SQLModel):
    admins_may_handle: bool = Field(description="Whether administrators may handle requests.")
    lead_retention_months: int = Field(
        default=24, ge=1, le=240, description="Quiet leads without consent are proposed after."
    )
    mail_triage_days: int = Field(
        default=30, ge=1, le=365, description="Days mail from unknown senders waits in triage."
    )


class ErasureRequest(Strict, SQLModel):
    keep_consents_on: str | None = Field(
        default=None,
        max_length=2000,
        description="A legal ground to keep the consent records (without the person).",
    )

    _blank_is_none = field_validator("keep_consents_on", mode="before")(blank_is_none)


class ErasureMentionPublic(SQLModel):
    id: int
    table_name: str
    row_id: int
    column_name: str
    redacted_at: datetime | None


class ErasurePublic(SQLModel):
    id: int
    contact_id: int
    request_id: int | None
    erased_at: datetime
    by_id: int | None
    counts: dict[str, int]
    kept_on: str | None
    mentions: list[ErasureMentionPublic]


class RestrictionChange(Strict, SQLModel):
    restricted: bool


class ObjectionChange(Strict, SQLModel):
    objected: bool = Field(description="True records an objection to direct marketing.")


class PrivacyFlags(SQLModel):
    restricted_at: datetime | None
    objected_at: datetime | None
    suppressed_at: datetime | None


class ProposalPublic(SQLModel):
    id: int
    contact_id: int
    rule: str
    last_activity_at: datetime
    proposed_at: datetime
    status: ProposalStatus


class ProposalDecision(Strict, SQLModel):
    ids: list[int] = Field(min_length=1, max_length=500)


class DoubleOptIn(Strict, SQLModel):
    purpose: str = Field(description="The purpose's key; the text goes in the contact's language.")
