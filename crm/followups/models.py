"""Follow-ups: the tasks that say whom to contact, when and why, the rules that create
them, and the record of each evaluation."""

from datetime import datetime
from enum import StrEnum

from pydantic import field_validator, model_validator
from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.schemas import Moment, Strict, blank_is_none
from crm.touchpoints.models import TouchpointBase


class FollowupStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SNOOZED = "snoozed"
    CANCELLED = "cancelled"


# Those still to do: a snoozed one comes back on its (new) due date.
PENDING = (FollowupStatus.OPEN, FollowupStatus.SNOOZED)
PENDING_ROWS = text(f"status IN ({', '.join(repr(str(s)) for s in PENDING)})")


class Trigger(StrEnum):
    """What makes a rule fire for a subject in its scope."""

    TIME_IN_PHASE = "time_in_phase"  # ``days`` after entering the phase
    QUIET = "quiet"  # ``days`` without a touchpoint while in the phase
    NPS = "nps"  # an NPS answer within ``nps_at_least``..``nps_at_most``
    DATE = "date"  # ``days`` before the subject's ``date_field``
    DEAL_WON = "deal_won"  # ``days`` after one of the subject's deals was won
    CADENCE = "cadence"  # every ``days`` while in the phase


class DateField(StrEnum):
    """The dates on a subject that a rule can count down to."""

    COMPANY_RENEWAL = "company_renewal"
    DEAL_RENEWAL = "deal_renewal"


class AssigneeMode(StrEnum):
    OWNER = "owner"  # the subject's owner
    USER = "user"  # the rule's named user
    LEAST_BUSY = "least_busy"  # the active account manager with the fewest pending ones


NAME = "{name}"  # where a rule's title template puts the subject's name


class FollowupRule(SQLModel, table=True):
    """Creates a follow-up for each subject in its scope when its trigger fires, once
    per occasion (a stay, a quiet period, an answer, a date, a won deal, a cadence's
    round), and optionally moves the subject on to another phase."""

    __tablename__ = "followup_rule"
    __table_args__ = (
        CheckConstraint("days > 0", name="days_positive"),
        CheckConstraint("due_in_days >= 0", name="due_in_days_not_negative"),
        CheckConstraint("nps_at_least BETWEEN 0 AND 10", name="nps_at_least_range"),
        CheckConstraint("nps_at_most BETWEEN 0 AND 10", name="nps_at_most_range"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=120)
    journey_id: int = column(Privacy.NONE, foreign_key="journey.id", ondelete="CASCADE")
    segment: str | None = column(Privacy.NONE, default=None, max_length=100)
    trigger: str = column(Privacy.NONE, max_length=20)
    # Days of the trigger; an NPS rule has none.
    days: int | None = column(Privacy.NONE, default=None)
    nps_at_least: int | None = column(Privacy.NONE, default=None)
    nps_at_most: int | None = column(Privacy.NONE, default=None)
    date_field: str | None = column(Privacy.NONE, default=None, max_length=20)
    title_template: str = column(Privacy.NONE, max_length=200)
    assignee_mode: str = column(Privacy.NONE, default=AssigneeMode.OWNER, max_length=16)
    assignee_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    due_in_days: int = column(Privacy.NONE, default=0)
    # The channel the follow-up suggests (a call, a visit, an e-mail).
    channel_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="channel.id", ondelete="SET NULL"
    )
    # Where the subject moves when the rule fires (a promoter on to advocacy).
    move_to_phase_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="phase.id", ondelete="SET NULL"
    )
    # What the rule's contact is for, for the GDPR module to come (a purpose's key).
    purpose: str | None = column(Privacy.NONE, default=None, max_length=40)
    is_active: bool = column(Privacy.NONE, default=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class FollowupRulePhase(SQLModel, table=True):
    """The phases a rule watches; a rule without any watches every phase of its journey."""

    __tablename__ = "followup_rule_phase"

    rule_id: int = column(
        Privacy.NONE, primary_key=True, foreign_key="followup_rule.id", ondelete="CASCADE"
    )
    phase_id: int = column(
        Privacy.NONE, primary_key=True, foreign_key="phase.id", ondelete="CASCADE", index=True
    )


class FollowupRun(SQLModel, table=True):
    """One evaluation of the rules: when, how many follow-ups it created, what failed."""

    __tablename__ = "followup_run"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    job: str = column(Privacy.NONE, max_length=80)
    as_of: datetime = timestamp()
    started_at: datetime = timestamp(default_factory=utcnow)
    finished_at: datetime | None = timestamp(default=None)
    created: int = column(Privacy.NONE, default=0)
    # Subjects a rule would have fired for but had no legal basis for its purpose.
    skipped: int = column(Privacy.NONE, default=0)
    error: str | None = column(Privacy.NONE, default=None, max_length=2000)


class Followup(SQLModel, table=True):
    __tablename__ = "followup"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (company_id IS NULL)", name="one_subject"),
        # Lists by assignee and status (the API, calendar feeds); the planner's pages of
        # one user's pending follow-ups, read in due order without the done ones.
        Index("ix_followup_planner", "assignee_id", "status", "due_at"),
        Index(
            "ix_followup_pending",
            "assignee_id",
            "due_at",
            "id",
            sqlite_where=PENDING_ROWS,
            postgresql_where=PENDING_ROWS,
        ),
        Index("ix_followup_contact", "contact_id", "status"),
        Index("ix_followup_company", "company_id", "status"),
        # Deleting touchpoints (an erasure) clears their follow-ups' link through it.
        Index("ix_followup_touchpoint", "touchpoint_id"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="contact.id", ondelete="CASCADE"
    )
    company_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="company.id", ondelete="CASCADE"
    )
    deal_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="deal.id", ondelete="SET NULL"
    )
    title: str = column(Privacy.FREE_TEXT, max_length=200)
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=5000)
    due_at: datetime = timestamp()
    assignee_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    status: str = column(Privacy.NONE, default=FollowupStatus.OPEN, max_length=16)
    # The suggested way to get in touch, offered when the follow-up is done.
    channel_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="channel.id", ondelete="SET NULL"
    )
    # Created by a rule: which one, and the occasion, unique, so that it fires once.
    rule_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="followup_rule.id", ondelete="SET NULL"
    )
    occasion: str | None = column(Privacy.NONE, default=None, max_length=80, unique=True)
    # The touchpoint logged when it was done, if any.
    touchpoint_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="touchpoint.id", ondelete="SET NULL"
    )
    created_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)
    completed_at: datetime | None = timestamp(default=None)


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give the time with its time zone")
    return value


class FollowupFields(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    notes: str | None = Field(default=None, max_length=5000)
    due_at: Moment | None = None
    assignee_id: int | None = None
    deal_id: int | None = None
    channel_id: int | None = None

    _blank_is_none = field_validator("title", "notes", mode="before")(blank_is_none)
    _aware = field_validator("due_at")(aware)


class FollowupCreate(Strict, FollowupFields):
    title: str = Field(min_length=1, max_length=200)
    due_at: Moment
    contact_id: int | None = None
    company_id: int | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> "FollowupCreate":
        if (self.contact_id is None) == (self.company_id is None):
            raise ValueError("a follow-up is for either a contact or a company")
        return self


class FollowupUpdate(Strict, FollowupFields):
    """Only the fields sent change."""


class FollowupComplete(Strict, SQLModel):
    """Done, and optionally what happened: logged as a touchpoint in the same step, or a
    touchpoint of the subject's logged already."""

    touchpoint: TouchpointBase | None = None
    summary: str | None = Field(
        default=None, max_length=500, description="The touchpoint's summary."
    )
    touchpoint_id: int | None = Field(
        default=None, description="A touchpoint of the same subject, logged already."
    )

    @model_validator(mode="after")
    def _new_or_logged(self) -> "FollowupComplete":
        if self.touchpoint_id is not None and (self.summary or self.touchpoint):
            raise ValueError("log a new touchpoint or name a logged one, not both")
        return self


class FollowupSnooze(Strict, SQLModel):
    until: Moment

    _aware = field_validator("until")(aware)


class FollowupPublic(SQLModel):
    id: int
    contact_id: int | None
    company_id: int | None
    deal_id: int | None
    title: str
    notes: str | None
    due_at: datetime
    assignee_id: int | None
    status: FollowupStatus
    channel_id: int | None
    rule_id: int | None
    touchpoint_id: int | None
    created_by_id: int | None
    created_at: datetime
    completed_at: datetime | None


class FollowupsPage(SQLModel):
    items: list[FollowupPublic]
    next_cursor: str | None


Days = Field(default=None, gt=0, le=3650)
Score = Field(default=None, ge=0, le=10)


class RuleFields(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    phase_ids: list[int] | None = Field(
        default=None, description="The phases it watches; none: every phase of the journey."
    )
    segment: str | None = Field(default=None, max_length=100)
    trigger: Trigger | None = None
    days: int | None = Days
    nps_at_least: int | None = Score
    nps_at_most: int | None = Score
    date_field: DateField | None = None
    title_template: str | None = Field(
        default=None, min_length=1, max_length=200, description="{name}: the subject's name."
    )
    assignee_mode: AssigneeMode | None = None
    assignee_id: int | None = None
    due_in_days: int | None = Field(default=None, ge=0, le=365)
    channel_id: int | None = None
    move_to_phase_id: int | None = None
    purpose: str | None = Field(default=None, max_length=40)
    is_active: bool | None = None

    _blank_is_none = field_validator("segment", "purpose", "date_field", mode="before")(
        blank_is_none
    )


class RuleCreate(Strict, RuleFields):
    name: str = Field(min_length=1, max_length=120)
    journey_id: int
    phase_ids: list[int] = []
    trigger: Trigger
    title_template: str = Field(min_length=1, max_length=200)
    assignee_mode: AssigneeMode = AssigneeMode.OWNER
    due_in_days: int = Field(default=0, ge=0, le=365)
    is_active: bool = True


class RuleUpdate(Strict, RuleFields):
    """Only the fields sent change; ``phase_ids``, when sent, replaces them all."""


class RulePublic(SQLModel):
    id: int
    name: str
    journey_id: int
    phase_ids: list[int]
    segment: str | None
    trigger: Trigger
    days: int | None
    nps_at_least: int | None
    nps_at_most: int | None
    date_field: DateField | None
    title_template: str
    assignee_mode: AssigneeMode
    assignee_id: int | None
    due_in_days: int
    channel_id: int | None
    move_to_phase_id: int | None
    purpose: str | None
    is_active: bool


class RunRequest(Strict, SQLModel):
    as_of: Moment | None = Field(
        default=None, description="Evaluate as at this moment; now if not given."
    )

    _aware = field_validator("as_of")(aware)


class RunPublic(SQLModel):
    id: int
    job: str
    as_of: datetime
    started_at: datetime
    finished_at: datetime | None
    created: int
    skipped: int
    error: str | None


class CalendarFeed(SQLModel, table=True):
    """A user's secret calendar link: whoever has it sees that user's follow-ups, so only
    its hash is kept, and a new link revokes the old one."""

    __tablename__ = "calendar_feed"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    user_id: int = column(Privacy.NONE, foreign_key="user.id", ondelete="CASCADE", unique=True)
    token_hash: str = column(Privacy.SECRET, max_length=64, unique=True)
    created_at: datetime = timestamp(default_factory=utcnow)


class CalendarLink(SQLModel):
    url: str = Field(description="Shown only now: subscribe to it in a calendar app.")
