"""Deals: pipelines with ordered stages, the deals that run through them, and every stage
change, from which time in stage is derived.

Amounts are exact decimals with an ISO 4217 currency; they are never added across
currencies. A pipeline may be linked to a journey: winning one of its deals moves the
company and the deal's contacts on to that journey's first post-purchase phase.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from babel.numbers import get_currency_precision, list_currencies
from pydantic import StringConstraints, field_validator
from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select

from crm.core.db import Money, Privacy, column, timestamp, utcnow, version_column
from crm.core.errors import N_
from crm.core.lists import ListEntry
from crm.core.schemas import Day, Moment, Strict, blank_is_none, past_or_now

CURRENCIES = frozenset(list_currencies())
DEFAULT_CURRENCY = "EUR"
MAX_AMOUNT = Decimal(10) ** 10


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


DEFAULT_LOST_REASONS = [
    ("price", N_("Price")),
    ("competitor", N_("Chose a competitor")),
    ("no_budget", N_("No budget")),
    ("no_decision", N_("No decision")),
    ("timing", N_("Bad timing")),
    ("features", N_("Missing features")),
    ("no_response", N_("No response")),
    ("other", N_("Other")),
]

# The pipeline every new installation starts with: (key, name, kind, probability, days).
DEFAULT_STAGES = [
    ("qualified", N_("Qualified"), StageKind.OPEN, 10, 14),
    ("needs_analysis", N_("Needs analysis"), StageKind.OPEN, 25, 21),
    ("proposal", N_("Proposal"), StageKind.OPEN, 50, 21),
    ("negotiation", N_("Negotiation"), StageKind.OPEN, 75, 14),
    ("won", N_("Won"), StageKind.WON, 100, None),
    ("lost", N_("Lost"), StageKind.LOST, 0, None),
]


class LostReason(ListEntry, table=True):
    __tablename__ = "lost_reason"


class Pipeline(SQLModel, table=True):
    __tablename__ = "pipeline"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=120, unique=True)
    description: str | None = column(Privacy.NONE, default=None, max_length=2000)
    # Winning a deal moves its company and contacts on in this journey (when set).
    journey_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="journey.id", ondelete="SET NULL"
    )
    move_on_won: bool = column(Privacy.NONE, default=True)
    is_archived: bool = column(Privacy.NONE, default=False)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class DealStage(SQLModel, table=True):
    __tablename__ = "deal_stage"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "key"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
        CheckConstraint("target_days > 0", name="target_days_positive"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    pipeline_id: int = column(
        Privacy.NONE, foreign_key="pipeline.id", ondelete="CASCADE", index=True
    )
    key: str = column(Privacy.NONE, max_length=40)
    name: str = column(Privacy.NONE, max_length=80)
    position: int = column(Privacy.NONE, default=0)
    kind: str = column(Privacy.NONE, default=StageKind.OPEN, max_length=8)
    probability: int = column(Privacy.NONE, default=0)
    # After this many days in the stage an open deal counts as stale.
    target_days: int | None = column(Privacy.NONE, default=None)
    is_archived: bool = column(Privacy.NONE, default=False)


_DEAL_VERSION = version_column()


class Deal(SQLModel, table=True):
    __tablename__ = "deal"
    __mapper_args__ = {"version_id_col": _DEAL_VERSION}
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
        # The board reads one pipeline's deals per stage, longest there first, and sums
        # their amounts per currency from the index alone.
        Index(
            "ix_deal_board",
            "pipeline_id",
            "stage_id",
            "status",
            "stage_since",
            "currency",
            "amount",
        ),
        # A rep's home reads their open deals stage by stage, the next step soonest first.
        Index("ix_deal_owner_open", "owner_id", "status", "stage_id", "next_step_date", "id"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    pipeline_id: int = column(Privacy.NONE, foreign_key="pipeline.id")
    stage_id: int = column(Privacy.NONE, foreign_key="deal_stage.id")
    title: str = column(Privacy.FREE_TEXT, max_length=200)
    company_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="company.id", ondelete="SET NULL", index=True
    )
    owner_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    amount: Decimal = column(Privacy.NONE, default=Decimal(0), sa_type=Money)
    currency: str = column(Privacy.NONE, default=DEFAULT_CURRENCY, max_length=3)
    # None: the stage's default probability.
    probability: int | None = column(Privacy.NONE, default=None)
    expected_close_date: date | None = column(Privacy.NONE, default=None)
    next_step: str | None = column(Privacy.FREE_TEXT, default=None, max_length=200)
    next_step_date: date | None = column(Privacy.NONE, default=None)
    source: str | None = column(Privacy.NONE, default=None, max_length=100)
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=10_000)
    status: str = column(Privacy.NONE, default=DealStatus.OPEN, max_length=8)
    stage_since: datetime = timestamp(default_factory=utcnow)
    closed_at: datetime | None = timestamp(default=None)
    lost_reason_id: int | None = column(Privacy.NONE, default=None, foreign_key="lost_reason.id")
    lost_note: str | None = column(Privacy.FREE_TEXT, default=None, max_length=2000)
    # When the contract this deal won comes up for renewal.
    renewal_date: date | None = column(Privacy.NONE, default=None, index=True)
    version: int = Field(default=1, sa_column=_DEAL_VERSION)
    # Kept for the books after its only contact was erased: the tombstone.
    erasure_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="erasure.id", ondelete="SET NULL"
    )
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class DealContact(SQLModel, table=True):
    """A contact's part in a deal (decision maker, user, influencer...)."""

    __tablename__ = "deal_contact"

    deal_id: int = column(Privacy.NONE, primary_key=True, foreign_key="deal.id", ondelete="CASCADE")
    contact_id: int = column(
        Privacy.NONE, primary_key=True, foreign_key="contact.id", ondelete="CASCADE", index=True
    )
    role: str | None = column(Privacy.NONE, default=None, max_length=80)


class DealStageChange(SQLModel, table=True):
    """One step of a deal's history: it entered ``to_stage_id`` at ``at`` and stayed
    until ``until`` (open while NULL)."""

    __tablename__ = "deal_stage_change"
    __table_args__ = (Index("ix_deal_stage_change_history", "deal_id", "at", "id"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    deal_id: int = column(Privacy.NONE, foreign_key="deal.id", ondelete="CASCADE")
    from_stage_id: int | None = column(Privacy.NONE, default=None, foreign_key="deal_stage.id")
    to_stage_id: int = column(Privacy.NONE, foreign_key="deal_stage.id")
    at: datetime = timestamp()
    until: datetime | None = timestamp(default=None)
    by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL"
    )


class ForecastTotal(SQLModel, table=True):
    """The open deals per pipeline, month of expected close ("" without a date) and
    currency at the last settling; the changes since are in ``forecast_change`` (see
    ``crm.core.tallies``: the forecast without summing every open deal on each view).
    Amounts in stored units; ``weighted`` in stored units times percent."""

    __tablename__ = "forecast_total"

    pipeline_id: int = column(Privacy.NONE, primary_key=True)
    month: str = column(Privacy.NONE, primary_key=True, max_length=7)
    currency: str = column(Privacy.NONE, primary_key=True, max_length=3)
    deals: int = column(Privacy.NONE, default=0)
    amount: int = column(Privacy.NONE, default=0, sa_type=BigInteger)
    weighted: int = column(Privacy.NONE, default=0, sa_type=BigInteger)


class ForecastChange(SQLModel, table=True):
    """A change to the open deals' figures, appended by triggers on ``deal`` and on a
    stage's probability until a settling folds it into ``forecast_total``."""

    __tablename__ = "forecast_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    pipeline_id: int = column(Privacy.NONE)
    month: str = column(Privacy.NONE, max_length=7)
    currency: str = column(Privacy.NONE, max_length=3)
    deals: int = column(Privacy.NONE)
    amount: int = column(Privacy.NONE, sa_type=BigInteger)
    weighted: int = column(Privacy.NONE, sa_type=BigInteger)


class StageTotal(SQLModel, table=True):
    """The deals per stage and currency at the last settling, and their amount in stored
    units; the changes since are in ``stage_total_change`` (see ``crm.core.tallies``: a
    deal board's columns without counting every deal of the pipeline on each view)."""

    __tablename__ = "stage_total"

    # No foreign key: a stage's deletion may cascade to deals, whose triggers write
    # changes for it while it goes.
    stage_id: int = column(Privacy.NONE, primary_key=True)
    currency: str = column(Privacy.NONE, primary_key=True, max_length=3)
    deals: int = column(Privacy.NONE, default=0)
    amount: int = column(Privacy.NONE, default=0, sa_type=BigInteger)


class StageTotalChange(SQLModel, table=True):
    """A change to a stage's deals, appended by triggers on ``deal`` until a settling
    folds it into ``stage_total``."""

    __tablename__ = "stage_total_change"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    stage_id: int = column(Privacy.NONE)
    currency: str = column(Privacy.NONE, max_length=3)
    deals: int = column(Privacy.NONE)
    amount: int = column(Privacy.NONE, sa_type=BigInteger)


def with_contact(contact_id: int) -> Any:
    """The condition for the deals a contact takes part in."""
    return col(Deal.id).in_(select(DealContact.deal_id).where(DealContact.contact_id == contact_id))


# --- request and response schemas -----------------------------------------------------

Key = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Amount = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=4)]


def valid_currency(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError("give an ISO 4217 currency code, such as EUR or USD")
    return code


def fits_currency(amount: Decimal | None, currency: str) -> None:
    """An amount must not have more decimal places than its currency has."""
    if amount is not None and -amount.as_tuple().exponent > get_currency_precision(currency):
        raise ValueError(f"{currency} has {get_currency_precision(currency)} decimal places")


def in_currency(amount: Decimal, currency: str) -> Decimal:
    """The amount with as many decimal places as its currency has (12500.5 EUR: 12500.50)."""
    return amount.quantize(Decimal(1).scaleb(-get_currency_precision(currency)))


class StageFields(SQLModel):
    name: Name | None = None
    kind: StageKind | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    target_days: int | None = Field(default=None, gt=0, le=3650)

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class StageCreate(Strict, StageFields):
    name: Name
    key: Key | None = None  # made from the name when not given
    kind: StageKind = StageKind.OPEN
    probability: int = Field(default=0, ge=0, le=100)
    position: int | None = None  # at the end when not given


class StageUpdate(Strict, StageFields):
    position: int | None = None
    is_archived: bool | None = None


class StagePublic(SQLModel):
    id: int
    pipeline_id: int
    key: str
    name: str
    position: int
    kind: StageKind
    probability: int
    target_days: int | None
    is_archived: bool


class StageOrder(Strict, SQLModel):
    """Stage ids in their new order; every stage of the pipeline, each once."""

    stage_ids: list[int]


class PipelineCreate(Strict, SQLModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str | None = Field(default=None, max_length=2000)
    journey_id: int | None = None
    move_on_won: bool = True
    # Without stages of its own, a pipeline gets the default ones.
    stages: list[StageCreate] | None = None

    _blank_is_none = field_validator("description", mode="before")(blank_is_none)


class PipelineUpdate(Strict, SQLModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    description: str | None = Field(default=None, max_length=2000)
    journey_id: int | None = None
    move_on_won: bool | None = None
    is_archived: bool | None = None

    _blank_is_none = field_validator("description", mode="before")(blank_is_none)


class PipelinePublic(SQLModel):
    id: int
    name: str
    description: str | None
    journey_id: int | None
    move_on_won: bool
    is_archived: bool
    stages: list[StagePublic]


class DealContactIn(Strict, SQLModel):
    contact_id: int
    role: str | None = Field(default=None, max_length=80)


class DealFields(SQLModel):
    title: Title | None = None
    company_id: int | None = None
    owner_id: int | None = None
    amount: Amount | None = None
    currency: str | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    expected_close_date: Day | None = None
    next_step: str | None = Field(default=None, max_length=200)
    next_step_date: Day | None = None
    renewal_date: Day | None = None
    source: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=10_000)
    contacts: list[DealContactIn] | None = None

    _blank_is_none = field_validator(
        "title", "currency", "next_step", "source", "notes", mode="before"
    )(blank_is_none)
    _currency = field_validator("currency")(valid_currency)


class DealCreate(Strict, DealFields):
    title: Title
    pipeline_id: int | None = None  # the first pipeline when not given
    stage_id: int | None = None  # the pipeline's first open stage when not given
    amount: Amount = Decimal(0)
    currency: str = DEFAULT_CURRENCY


class DealUpdate(Strict, DealFields):
    """Only the fields sent change; ``contacts``, when sent, replaces them all."""

    version: int | None = Field(
        default=None, description="The version you edited; if it changed since: 409."
    )


class DealContactPublic(SQLModel):
    contact_id: int
    name: str
    role: str | None


class DealPublic(SQLModel):
    id: int
    version: int
    pipeline_id: int
    stage_id: int
    title: str
    company_id: int | None
    company_name: str | None
    owner_id: int | None
    amount: Decimal
    currency: str
    probability: int = Field(description="The deal's own, or its stage's default.")
    probability_is_default: bool
    expected_close_date: date | None
    next_step: str | None
    next_step_date: date | None
    renewal_date: date | None
    source: str | None
    notes: str | None
    status: DealStatus
    stage_since: datetime
    closed_at: datetime | None
    lost_reason: str | None
    lost_note: str | None
    contacts: list[DealContactPublic]
    created_at: datetime
    updated_at: datetime


class DealsPage(SQLModel):
    items: list[DealPublic]
    next_cursor: str | None


class DealClose(Strict, SQLModel):
    at: Moment | None = Field(default=None, description="When it happened; now if not given.")

    _past_or_now = field_validator("at")(past_or_now)


class DealMove(DealClose):
    stage_id: int
    lost_reason: str | None = Field(default=None, description="For a lost stage: a reason's key.")
    note: str | None = Field(default=None, max_length=2000)


class DealLose(DealClose):
    lost_reason: str = Field(description="A lost reason's key.")
    note: str | None = Field(default=None, max_length=2000)
