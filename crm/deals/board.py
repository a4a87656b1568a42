"""What the deal pages read: the board's columns with their counts, sums and cards."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, false, func, or_, type_coerce
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from crm.contacts.models import Company
from crm.core import tallies
from crm.core.db import Money, utcnow
from crm.core.pagination import keyset_page
from crm.deals import figures
from crm.deals.models import (
    Deal,
    DealStage,
    DealStageChange,
    DealStatus,
    Pipeline,
    StageKind,
    StageTotal,
    StageTotalChange,
    in_currency,
    with_contact,
)
from crm.deals.service import stages_of
from crm.users.models import User

CARDS_PER_COLUMN = 20
SECONDS_PER_DAY = 86_400


def _count_stages(session: Session) -> tallies.Counted:
    """Every deal counted per stage and currency, its amount in stored units."""
    amount = func.sum(type_coerce(Deal.amount, BigInteger))
    query = select(Deal.stage_id, Deal.currency, func.count(), amount).group_by(
        Deal.stage_id, Deal.currency
    )
    return {(stage, currency): [n, units] for stage, currency, n, units in session.exec(query)}


STAGE_TOTALS = tallies.Tally(
    "deal board columns",
    StageTotal,
    StageTotalChange,
    ["stage_id", "currency"],
    ["deals", "amount"],
    _count_stages,
)


@dataclass
class DealCard:
    deal_id: int
    title: str
    company_name: str | None
    owner_name: str | None
    amount: Decimal
    currency: str
    days: float
    stale: bool
    next_step: str | None
    next_step_date: date | None
    expected_close_date: date | None


@dataclass
class DealColumn:
    stage: DealStage
    count: int = 0
    sums: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    cards: list[DealCard] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass
class BoardFilter:
    owner_id: int | None = None
    stale: bool = False


def stale_since(stage: DealStage, now: datetime) -> datetime | None:
    """Open deals that entered the stage before this are stale."""
    if stage.kind != StageKind.OPEN or not stage.target_days:
        return None
    return now - timedelta(days=stage.target_days)


def _filtered(filters: BoardFilter, stages: list[DealStage], now: datetime) -> list[Any]:
    """The filter's conditions for the deals in ``stages``."""
    conditions = []
    if filters.owner_id is not None:
        conditions.append(Deal.owner_id == filters.owner_id)
    if filters.stale:
        conditions.append(
            or_(
                false(),
                *(
                    and_(Deal.stage_id == stage.id, col(Deal.stage_since) < since)
                    for stage in stages
                    if (since := stale_since(stage, now))
                ),
            )
        )
    return conditions


def _in_column(stage: DealStage, filters: BoardFilter, now: datetime) -> list[Any]:
    """Open deals in an open stage; in a closing stage, the deals closed there."""
    status = DealStatus.OPEN if stage.kind == StageKind.OPEN else DealStatus(stage.kind)
    return [
        Deal.pipeline_id == stage.pipeline_id,
        Deal.status == status,
        Deal.stage_id == stage.id,
        *_filtered(filters, [stage], now),
    ]


def board(
    session: Session, *, pipeline: Pipeline, filters: BoardFilter, now: datetime | None = None
) -> list[DealColumn]:
    """One column per stage: how many deals are there, their sums per currency, and the
    cards of those there longest."""
    now = now or utcnow()
    stages = stages_of(session, pipeline)
    columns = {stage.id: DealColumn(stage) for stage in stages}
    for stage_id, currency, count, amount in _totals(session, pipeline, stages, filters, now):
        if count:
            column = columns[stage_id]
            column.count += count
            column.sums[currency] = in_currency(amount, currency)
    for column in columns.values():
        if column.count:
            column.cards, column.next_cursor = column_page(
                session, stage=column.stage, filters=filters, now=now
            )
    return [columns[stage.id] for stage in stages]


def _totals(
    session: Session,
    pipeline: Pipeline,
    stages: list[DealStage],
    filters: BoardFilter,
    now: datetime,
) -> list[tuple[int, str, int, Decimal]]:
    """Per stage and currency, the deals and their sum: kept as deals change for the
    whole board, counted for a filtered one. A deal's status always matches its stage's
    kind, so counting by stage reads every column at once."""
    stage_ids = [stage.id for stage in stages]
    if filters == BoardFilter():
        rows = tallies.read(
            session, STAGE_TOTALS, where=lambda table: [col(table.stage_id).in_(stage_ids)]
        )
        return [(s, c, int(n), Decimal(int(units)) / Money.UNITS) for s, c, n, units in rows]
    query = (
        select(Deal.stage_id, Deal.currency, func.count(), func.sum(Deal.amount))
        .where(
            Deal.pipeline_id == pipeline.id,
            col(Deal.stage_id).in_(stage_ids),
            *_filtered(filters, stages, now),
        )
        .group_by(Deal.stage_id, Deal.currency)
    )
    return list(session.exec(query))


def column_page(
    session: Session,
    *,
    stage: DealStage,
    filters: BoardFilter,
    cursor: str | None = None,
    now: datetime | None = None,
) -> tuple[list[DealCard], str | None]:
    """A column's deals as cards, and the next cursor: open ones longest in the stage
    first, closed ones latest first."""
    now = now or utcnow()
    query = (
        select(
            Deal.id,
            Deal.title,
            Company.name.label("company_name"),
            User.name.label("owner_name"),
            Deal.amount,
            Deal.currency,
            Deal.stage_since,
            Deal.next_step,
            Deal.next_step_date,
            Deal.expected_close_date,
        )
        .outerjoin(Company, Company.id == Deal.company_id)
        .outerjoin(User, User.id == Deal.owner_id)
        .where(*_in_column(stage, filters, now))
    )
    keys = [col(Deal.stage_since), col(Deal.id)]
    rows, next_cursor = keyset_page(
        session,
        query,
        keys,
        descending=stage.kind != StageKind.OPEN,
        cursor=cursor,
        limit=CARDS_PER_COLUMN,
    )
    stale_after = stale_since(stage, now)
    cards = [
        DealCard(
            deal_id=row.id,
            title=row.title,
            company_name=row.company_name,
            owner_name=row.owner_name,
            amount=in_currency(row.amount, row.currency),
            currency=row.currency,
            days=(now - row.stage_since).total_seconds() / SECONDS_PER_DAY,
            stale=bool(stale_after and row.stage_since < stale_after),
            next_step=row.next_step,
            next_step_date=row.next_step_date,
            expected_close_date=row.expected_close_date,
        )
        for row in rows
    ]
    return cards, next_cursor


# Named once: an alias made per call would make each query a new one to compile.
FROM_STAGE, TO_STAGE = aliased(DealStage, name="from_stage"), aliased(DealStage, name="to_stage")


@dataclass
class DealStep:
    """A deal's stage change as a timeline shows it."""

    id: int
    occurred_at: datetime
    deal_id: int
    deal_title: str
    from_stage_name: str | None
    to_stage_name: str
    to_kind: str


def deal_steps(
    session: Session,
    *,
    contact_id: int | None = None,
    company_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> list[DealStep]:
    """The stage changes with ``since <= at < before`` of the deals of a company, or of
    the deals a contact takes part in, newest first, in one query."""
    subject = with_contact(contact_id) if contact_id is not None else Deal.company_id == company_id
    query = (
        select(
            DealStageChange.id,
            DealStageChange.at,
            Deal.id,
            Deal.title,
            FROM_STAGE.name,
            TO_STAGE.name,
            TO_STAGE.kind,
        )
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .outerjoin(FROM_STAGE, FROM_STAGE.id == DealStageChange.from_stage_id)
        .join(TO_STAGE, TO_STAGE.id == DealStageChange.to_stage_id)
        .where(subject)
    )
    if since is not None:
        query = query.where(DealStageChange.at >= since)
    if before is not None:
        query = query.where(DealStageChange.at < before)
    query = query.order_by(col(DealStageChange.at).desc(), col(DealStageChange.id).desc())
    return [DealStep(*row) for row in session.exec(query).all()]


@dataclass
class SubjectDeals:
    """What a company's or contact's page shows of its deals."""

    deals: list[Deal]
    lifetime_value: dict[str, Decimal]
    abc: str | None


def subject_deals(
    session: Session, *, company_id: int | None = None, contact_id: int | None = None
) -> SubjectDeals:
    """The subject's deals (open ones first, newest first), its lifetime value and, for a
    company, its ABC class."""
    query = select(Deal).order_by(Deal.status != DealStatus.OPEN, col(Deal.id).desc())
    if company_id is not None:
        query = query.where(Deal.company_id == company_id)
    if contact_id is not None:
        query = query.where(with_contact(contact_id))
    return SubjectDeals(
        deals=list(session.scalars(query.limit(50))),
        lifetime_value=figures.lifetime_value(
            session, company_id=company_id, contact_id=contact_id
        ),
        abc=figures.abc_class(session, company_id=company_id) if company_id is not None else None,
    )
