"""Journeys: phases as data, the subjects enrolled in them, and every move they make.

A journey's phases, their order and their map rows are edited by admins. An enrollment
is one contact or one company in one journey; its phase_transition rows are the whole
history, from which time in phase is derived. A subject that left a journey and comes
back re-enters the same enrollment, so its history stays in one place.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, field_validator, model_validator
from sqlalchemy import CheckConstraint, Index, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.errors import N_
from crm.core.lists import ListEntry
from crm.core.schemas import Moment, Strict, blank_is_none, past_or_now


class PhaseKind(StrEnum):
    PRE_PURCHASE = "pre_purchase"
    PURCHASE = "purchase"
    POST_PURCHASE = "post_purchase"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    WON = "won"
    LOST = "lost"
    CHURNED = "churned"


EXITS = (EnrollmentStatus.WON, EnrollmentStatus.LOST, EnrollmentStatus.CHURNED)


class Cause(StrEnum):
    """Why a transition happened."""

    MANUAL = "manual"
    DEAL_WON = "deal_won"
    RULE = "rule"
    IMPORT = "import"


# The map rows of a phase, in the order the journey map shows them.
MAP_ROWS = {
    "behaviour": N_("Behaviour"),
    "questions": N_("Typical questions"),
    "typical_touchpoints": N_("Typical touchpoints"),
    "emotions": N_("Emotions"),
    "pain_points": N_("Pain points"),
}

DEFAULT_EXIT_REASONS = [
    ("purchased", N_("Purchased")),
    ("competitor", N_("Chose a competitor")),
    ("no_budget", N_("No budget")),
    ("no_need", N_("No need")),
    ("no_response", N_("No response")),
    ("price", N_("Price")),
    ("service", N_("Unhappy with the service")),
    ("closed", N_("Company closed or person left")),
    ("other", N_("Other")),
]


class Journey(SQLModel, table=True):
    __tablename__ = "journey"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=120, unique=True)
    description: str | None = column(Privacy.NONE, default=None, max_length=2000)
    # Bound to a segment, the journey is the one offered for that segment's subjects.
    segment: str | None = column(Privacy.NONE, default=None, max_length=100, index=True)
    # The template it was made from (a key of TEMPLATES): its name may be in any language.
    template: str | None = column(Privacy.NONE, default=None, max_length=40, index=True)
    is_archived: bool = column(Privacy.NONE, default=False)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class Phase(SQLModel, table=True):
    """A phase of one journey. The map rows describe a segment's customers in general,
    never a person: they hold no personal data."""

    __tablename__ = "phase"
    __table_args__ = (
        UniqueConstraint("journey_id", "key"),
        CheckConstraint("target_days > 0", name="target_days_positive"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, foreign_key="journey.id", ondelete="CASCADE", index=True)
    key: str = column(Privacy.NONE, max_length=40)
    name: str = column(Privacy.NONE, max_length=80)
    position: int = column(Privacy.NONE, default=0)
    parent_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="phase.id", ondelete="SET NULL"
    )
    kind: str = column(Privacy.NONE, default=PhaseKind.PRE_PURCHASE, max_length=16)
    target_days: int | None = column(Privacy.NONE, default=None)
    behaviour: str | None = column(Privacy.NONE, default=None, max_length=2000)
    questions: str | None = column(Privacy.NONE, default=None, max_length=2000)
    typical_touchpoints: str | None = column(Privacy.NONE, default=None, max_length=2000)
    emotions: str | None = column(Privacy.NONE, default=None, max_length=2000)
    pain_points: str | None = column(Privacy.NONE, default=None, max_length=2000)
    is_archived: bool = column(Privacy.NONE, default=False)


class ExitReason(ListEntry, table=True):
    __tablename__ = "exit_reason"


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollment"
    __table_args__ = (
        # One enrollment per subject and journey (NULLs never collide, so each
        # constraint binds only its own kind of subject).
        UniqueConstraint("journey_id", "contact_id"),
        UniqueConstraint("journey_id", "company_id"),
        CheckConstraint("(contact_id IS NULL) <> (company_id IS NULL)", name="one_subject"),
        # The board reads one journey's active subjects per phase, longest there first.
        Index("ix_enrollment_board", "journey_id", "status", "phase_id", "phase_since"),
        # Analytics read the enrollments that began in a period, month by month.
        Index(
            "ix_enrollment_started", "journey_id", "started_at", "status", "purchased_at", "segment"
        ),
        # and the customers of a period: who had bought by then and had not left before.
        Index("ix_enrollment_customers", "journey_id", "purchased_at", "ended_at", "segment"),
        Index("ix_enrollment_segment", "journey_id", "segment", "id"),
        # and the median time to close, walking one band of lengths.
        Index(
            "ix_enrollment_to_purchase",
            "journey_id",
            "days_to_purchase",
            "started_at",
            sqlite_where=text("days_to_purchase IS NOT NULL"),
            postgresql_where=text("days_to_purchase IS NOT NULL"),
        ),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    journey_id: int = column(Privacy.NONE, foreign_key="journey.id")
    contact_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="contact.id", ondelete="CASCADE", index=True
    )
    company_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="company.id", ondelete="CASCADE", index=True
    )
    # A copy of the subject's segment (kept by the contacts service), so that analytics
    # find a segment's enrollments in one index range.
    segment: str | None = column(Privacy.NONE, default=None, max_length=100)
    # The current phase; after an exit, the phase the subject left from.
    phase_id: int = column(Privacy.NONE, foreign_key="phase.id")
    status: str = column(Privacy.NONE, default=EnrollmentStatus.ACTIVE, max_length=16)
    phase_since: datetime = timestamp()
    started_at: datetime = timestamp()
    # When it first entered a purchase phase (time-to-close, conversion), and how many
    # days after it began; kept by the service, and recomputed for the journey when a
    # phase's kind changes.
    purchased_at: datetime | None = timestamp(default=None)
    days_to_purchase: float | None = column(Privacy.NONE, default=None)
    ended_at: datetime | None = timestamp(default=None)
    exit_reason_id: int | None = column(Privacy.NONE, default=None, foreign_key="exit_reason.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class PhaseCount(SQLModel, table=True):
    """How many active enrollments a phase held at the last settling; the changes since
    are in ``phase_count_change`` (see ``crm.core.tallies``: the journey boards' column
    counts, without counting every enrollment on each view)."""

    __tablename__ = "phase_count"

    # No foreign keys here or below: a phase's deletion may cascade to enrollments,
    # whose triggers write changes for it while it goes.
    phase_id: int = column(Privacy.NONE, primary_key=True)
    active: int = column(Privacy.NONE, default=0)


class PhaseCountChange(SQLModel, table=True):
    """+1 or -1 to a phase's active enrollments, appended by triggers on ``enrollment``
    until a settling folds it into ``phase_count``."""

    __tablename__ = "phase_count_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    phase_id: int = column(Privacy.NONE, index=True)
    active: int = column(Privacy.NONE)


class PhaseTransition(SQLModel, table=True):
    """One step of an enrollment's history: an entry (no from phase), a move, or an
    exit (no to phase; ``status`` says which)."""

    __tablename__ = "phase_transition"
    __table_args__ = (
        Index("ix_phase_transition_history", "enrollment_id", "at", "id"),
        # Analytics read one journey's stays phase by phase, each through an index range
        # that holds every column it needs: by when they began (the funnel), by when they
        # ended (time in phase, customers), and by their length (percentiles).
        Index(
            "ix_phase_transition_entered",
            "journey_id",
            "to_phase_id",
            "at",
            "next_phase_id",
            "next_status",
            "reentered_at",
            "status",
            "enrollment_id",
        ),
        Index(
            "ix_phase_transition_ended",
            "journey_id",
            "to_phase_id",
            "until",
            "days",
            "at",
            "enrollment_id",
            "next_status",
        ),
        # and the churned customers of a period: their exits, by when they happened.
        Index(
            "ix_phase_transition_churn",
            "journey_id",
            "status",
            "left_as_customer",
            "at",
            "reentered_at",
            "enrollment_id",
            sqlite_where=text("to_phase_id IS NULL"),
            postgresql_where=text("to_phase_id IS NULL"),
        ),
        Index(
            "ix_phase_transition_length",
            "journey_id",
            "to_phase_id",
            "days",
            "until",
            "enrollment_id",
        ),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    enrollment_id: int = column(Privacy.NONE, foreign_key="enrollment.id", ondelete="CASCADE")
    # The enrollment's journey, copied so that analytics need not join enrollments.
    journey_id: int = column(Privacy.NONE, foreign_key="journey.id")
    from_phase_id: int | None = column(Privacy.NONE, default=None, foreign_key="phase.id")
    to_phase_id: int | None = column(Privacy.NONE, default=None, foreign_key="phase.id", index=True)
    status: str = column(Privacy.NONE, default=EnrollmentStatus.ACTIVE, max_length=16)
    at: datetime = timestamp(index=True)
    # When the next transition of the enrollment happened: a stay in ``to_phase_id`` lasts
    # from ``at`` until then (open while NULL). Kept by the service, so that analytics read
    # stays without window functions.
    until: datetime | None = timestamp(default=None)
    # Where that next transition went (NULL phase for an exit), and when the enrollment
    # next entered this same phase again (an exit: next left with the same status): the
    # funnel reads a stay's outcome from these, and churn counts an enrollment's last exit.
    next_phase_id: int | None = column(Privacy.NONE, default=None, foreign_key="phase.id")
    next_status: str | None = column(Privacy.NONE, default=None, max_length=16)
    reentered_at: datetime | None = timestamp(default=None)
    # The stay's length in days once it ended (until - at), so that reports read a number.
    days: float | None = column(Privacy.NONE, default=None)
    # On an exit: whether the subject had reached a purchase phase before it (churn
    # counts customers only). Kept by the service, so that churn reads no enrollments.
    left_as_customer: bool = column(
        Privacy.NONE, default=False, sa_column_kwargs={"server_default": false()}
    )
    cause: str = column(Privacy.NONE, default=Cause.MANUAL, max_length=16)
    exit_reason_id: int | None = column(Privacy.NONE, default=None, foreign_key="exit_reason.id")
    reason: str | None = column(Privacy.FREE_TEXT, default=None, max_length=200)
    note: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)
    by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    created_at: datetime = timestamp(default_factory=utcnow)


class TouchpointPhase(SQLModel, table=True):
    """The phase a touchpoint counts toward in one journey: the stay its subject was in
    when it happened (the contact's own, else its company's). Kept by
    ``journeys.attribution`` whenever touchpoints or stays change, with copies of the
    touchpoint's figures, so that the journey map reads one index range."""

    __tablename__ = "touchpoint_phase"
    __table_args__ = (
        Index("ix_touchpoint_phase_stay", "enrollment_id", "occurred_at"),
        Index(
            "ix_touchpoint_phase_nps",
            "journey_id",
            "occurred_at",
            "nps",
            "enrollment_id",
            sqlite_where=text("nps IS NOT NULL"),
            postgresql_where=text("nps IS NOT NULL"),
        ),
        Index(
            "ix_touchpoint_phase_map",
            "journey_id",
            "phase_id",
            "channel_id",
            "initiated_by",
            "occurred_at",
            "sentiment",
            "nps",
            "enrollment_id",
        ),
    )

    touchpoint_id: int = column(
        Privacy.NONE, primary_key=True, foreign_key="touchpoint.id", ondelete="CASCADE"
    )
    journey_id: int = column(Privacy.NONE, primary_key=True, foreign_key="journey.id")
    enrollment_id: int = column(Privacy.NONE, foreign_key="enrollment.id", ondelete="CASCADE")
    phase_id: int = column(Privacy.NONE, foreign_key="phase.id")
    occurred_at: datetime = timestamp()
    channel_id: int = column(Privacy.NONE)
    initiated_by: str = column(Privacy.NONE, max_length=16)
    sentiment: int | None = column(Privacy.PERSONAL, default=None)
    nps: int | None = column(Privacy.PERSONAL, default=None)


# --- request and response schemas -----------------------------------------------------

Key = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]
MapText = Annotated[str, StringConstraints(max_length=2000)]


class PhaseFields(SQLModel):
    name: Name | None = None
    parent_id: int | None = None
    kind: PhaseKind | None = None
    target_days: int | None = Field(default=None, gt=0, le=3650)
    behaviour: MapText | None = None
    questions: MapText | None = None
    typical_touchpoints: MapText | None = None
    emotions: MapText | None = None
    pain_points: MapText | None = None

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class PhaseCreate(Strict, PhaseFields):
    name: Name
    key: Key | None = None  # made from the name when not given
    kind: PhaseKind = PhaseKind.PRE_PURCHASE
    position: int | None = None  # at the end when not given


class PhaseUpdate(Strict, PhaseFields):
    position: int | None = None


class PhasePublic(SQLModel):
    id: int
    journey_id: int
    key: str
    name: str
    position: int
    parent_id: int | None
    kind: PhaseKind
    target_days: int | None
    behaviour: str | None
    questions: str | None
    typical_touchpoints: str | None
    emotions: str | None
    pain_points: str | None
    is_archived: bool


class JourneyCreate(Strict, SQLModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str | None = Field(default=None, max_length=2000)
    segment: str | None = Field(default=None, max_length=100)
    # One of TEMPLATES' keys; without one the journey starts with no phases.
    template: str | None = None

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class JourneyUpdate(Strict, SQLModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    description: str | None = Field(default=None, max_length=2000)
    segment: str | None = Field(default=None, max_length=100)
    is_archived: bool | None = None

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class JourneyPublic(SQLModel):
    id: int
    name: str
    description: str | None
    segment: str | None
    template: str | None
    is_archived: bool
    phases: list[PhasePublic]


class PhaseOrder(Strict, SQLModel):
    """Phase ids in their new order; every phase of the journey, each once."""

    phase_ids: list[int]


class EnrollmentCreate(Strict, SQLModel):
    journey_id: int
    contact_id: int | None = None
    company_id: int | None = None
    phase_id: int
    at: Moment | None = Field(
        default=None, description="When the subject entered; now if not given."
    )
    note: str | None = Field(default=None, max_length=2000)
    cause: Cause = Cause.MANUAL

    _past_or_now = field_validator("at")(past_or_now)

    @model_validator(mode="after")
    def _one_subject(self) -> "EnrollmentCreate":
        if (self.contact_id is None) == (self.company_id is None):
            raise ValueError("enroll either a contact or a company")
        return self


class MoveRequest(Strict, SQLModel):
    """A move to ``phase_id``, or an exit with ``exit`` (and a reason)."""

    phase_id: int | None = None
    exit: EnrollmentStatus | None = Field(default=None, description="won, lost or churned")
    exit_reason: str | None = Field(default=None, description="An exit reason's key.")
    at: Moment | None = Field(default=None, description="When it happened; now if not given.")
    reason: str | None = Field(default=None, max_length=200, description="Why, in a few words.")
    note: str | None = Field(default=None, max_length=2000)
    cause: Cause = Cause.MANUAL

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)
    _past_or_now = field_validator("at")(past_or_now)

    @model_validator(mode="after")
    def _phase_or_exit(self) -> "MoveRequest":
        if (self.phase_id is None) == (self.exit is None):
            raise ValueError("give either a phase to move to or an exit")
        if self.exit == EnrollmentStatus.ACTIVE:
            raise ValueError("an exit is won, lost or churned")
        return self


class TransitionPublic(SQLModel):
    id: int
    enrollment_id: int
    from_phase_id: int | None
    to_phase_id: int | None
    status: EnrollmentStatus
    at: datetime
    cause: Cause
    exit_reason: str | None
    reason: str | None
    note: str | None
    by_id: int | None


class PhaseTime(SQLModel):
    phase_id: int
    entries: int
    days: float


class EnrollmentPublic(SQLModel):
    id: int
    journey_id: int
    contact_id: int | None
    company_id: int | None
    phase_id: int
    status: EnrollmentStatus
    phase_since: datetime
    started_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    days_in_phase: float
    time_in_phases: list[PhaseTime]


class MembershipPublic(EnrollmentPublic):
    """One of a subject's journeys, as its page lists them."""

    journey_name: str
    phase_name: str
    via_company: bool = Field(
        description="The contact's company is enrolled in this journey, not the contact."
    )
