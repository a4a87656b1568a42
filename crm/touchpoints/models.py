"""Touchpoints: every logged interaction between a customer and the company."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import field_validator, model_validator
from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.errors import N_
from crm.core.lists import ListEntry
from crm.core.schemas import Moment, Strict, blank_is_none


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Initiator(StrEnum):
    COMPANY = "company"
    CUSTOMER = "customer"
    THIRD_PARTY = "third_party"


# The lists every new installation starts with; admins rename, reorder and retire them.
DEFAULT_CHANNELS = [
    ("call", N_("Call")),
    ("meeting", N_("Meeting")),
    ("email", N_("E-mail")),
    ("letter", N_("Letter")),
    ("chat", N_("Chat")),
    ("video_call", N_("Video call")),
    ("website_visit", N_("Website visit")),
    ("trade_fair", N_("Trade fair")),
    ("event", N_("Event")),
    ("social_media", N_("Social media")),
    ("review", N_("Review")),
    ("survey", N_("Survey")),
    ("support_ticket", N_("Support ticket")),
    ("other", N_("Other")),
]
DEFAULT_OUTCOMES = [
    ("reached", N_("Reached")),
    ("no_answer", N_("No answer")),
    ("left_voicemail", N_("Left voicemail")),
    ("positive", N_("Positive")),
    ("negative", N_("Negative")),
    ("follow_up_needed", N_("Follow-up needed")),
]


class Channel(ListEntry, table=True):
    __tablename__ = "channel"


class Outcome(ListEntry, table=True):
    __tablename__ = "outcome"


class Touchpoint(SQLModel, table=True):
    __tablename__ = "touchpoint"
    __table_args__ = (
        # Timelines read newest first per subject: these make each page an index range.
        Index("ix_touchpoint_contact_timeline", "contact_id", "occurred_at", "id"),
        Index("ix_touchpoint_company_timeline", "company_id", "occurred_at", "id"),
        # A user's latest touchpoints (their home's "recently touched").
        Index("ix_touchpoint_logged_by", "logged_by_id", "occurred_at"),
        # The latest NPS answers: the few touchpoints that carry one.
        Index(
            "ix_touchpoint_nps",
            "occurred_at",
            sqlite_where=text("nps IS NOT NULL"),
            postgresql_where=text("nps IS NOT NULL"),
        ),
        CheckConstraint("sentiment BETWEEN -2 AND 2", name="sentiment_range"),
        CheckConstraint("nps BETWEEN 0 AND 10", name="nps_range"),
        CheckConstraint("contact_id IS NOT NULL OR company_id IS NOT NULL", name="has_subject"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="contact.id", ondelete="CASCADE"
    )
    # Set from the contact's company when logged, so that a company's timeline holds
    # what happened with its people while they worked there. Deleting the company keeps
    # its people's touchpoints (SET NULL); the service deletes those of the company alone.
    company_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="company.id", ondelete="SET NULL"
    )
    channel_id: int = column(Privacy.NONE, foreign_key="channel.id", index=True)
    outcome_id: int | None = column(Privacy.NONE, default=None, foreign_key="outcome.id")
    direction: str = column(Privacy.NONE, default=Direction.OUTBOUND, max_length=16)
    initiated_by: str = column(Privacy.NONE, default=Initiator.COMPANY, max_length=16)
    occurred_at: datetime = timestamp(default_factory=utcnow, index=True)
    duration_minutes: int | None = column(Privacy.NONE, default=None)
    summary: str = column(Privacy.FREE_TEXT, max_length=500)
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=10_000)
    sentiment: int | None = column(Privacy.PERSONAL, default=None)
    nps: int | None = column(Privacy.PERSONAL, default=None)
    logged_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )
    created_at: datetime = timestamp(default_factory=utcnow)


Summary = Annotated[str, Field(min_length=1, max_length=500)]
# A client's clock may run a little ahead of ours.
_CLOCK_SKEW = timedelta(minutes=5)


class TouchpointBase(Strict, SQLModel):
    channel: str = "call"
    outcome: str | None = None
    direction: Direction = Direction.OUTBOUND
    initiated_by: Initiator = Initiator.COMPANY
    occurred_at: Moment | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    notes: str | None = Field(default=None, max_length=10_000)
    sentiment: int | None = Field(default=None, ge=-2, le=2)
    nps: int | None = Field(default=None, ge=0, le=10)

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)

    @field_validator("occurred_at")
    @classmethod
    def _aware_and_not_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("give the time with its time zone")
        if value > utcnow().replace(microsecond=0) + _CLOCK_SKEW:
            raise ValueError("a touchpoint cannot lie in the future")
        return value.astimezone(UTC)


class TouchpointCreate(TouchpointBase):
    summary: Summary
    contact_id: int | None = None
    company_id: int | None = None

    @model_validator(mode="after")
    def _has_subject(self) -> "TouchpointCreate":
        if self.contact_id is None and self.company_id is None:
            raise ValueError("a touchpoint needs a contact or a company")
        return self


class TouchpointUpdate(TouchpointBase):
    channel: str | None = None  # type: ignore[assignment]
    direction: Direction | None = None  # type: ignore[assignment]
    initiated_by: Initiator | None = None  # type: ignore[assignment]
    summary: Summary | None = None


class TouchpointPublic(SQLModel):
    id: int
    contact_id: int | None
    company_id: int | None
    channel: str
    outcome: str | None
    direction: Direction
    initiated_by: Initiator
    occurred_at: datetime
    duration_minutes: int | None
    summary: str
    notes: str | None
    sentiment: int | None
    nps: int | None
    logged_by_id: int | None
    created_at: datetime


class TouchpointsPage(SQLModel):
    items: list[TouchpointPublic]
    next_cursor: str | None
