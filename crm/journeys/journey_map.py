"""The customer journey map: per phase, the rows admins configured beside what the data
says over a period and segment.

The data side per phase: the touchpoints that count toward it (see ``attribution``) by
channel and by initiator, their average sentiment (the emotion curve), NPS, the median
and 90th percentile time in phase, and the shares that moved on and dropped out (from
the funnel). A phase is a gap when it got fewer than half the touchpoints an even spread
over the journey's phases would give it: the place to add contact points.
"""

from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import Session, col

from crm.core import lists, tallies
from crm.journeys import analytics, daily, stay_lengths
from crm.journeys.models import MAP_ROWS, Journey, PhasePublic, TouchpointPhase
from crm.touchpoints.models import Channel, Initiator

GAP_SHARE = 0.5  # of an even spread's touchpoints


class MapColumn(BaseModel):
    phase: PhasePublic
    touchpoints: int = 0
    by_channel: dict[str, int]
    by_initiator: dict[str, int]
    sentiment: float | None = None
    sentiment_answers: int = 0
    nps: float | None = None
    nps_answers: int = 0
    median_days: float | None = None
    p90_days: float | None = None
    entered: int = 0
    moved_on_share: float | None = None
    dropped_share: float | None = None
    gap: bool = False


class JourneyMap(BaseModel):
    journey_id: int
    rows: list[str]  # the configured rows, in the order the map shows them
    columns: list[MapColumn]


def journey_map(
    session: Session,
    *,
    journey: Journey,
    since: datetime,
    until: datetime,
    segment: str | None = None,
) -> JourneyMap:
    within = analytics.scope(session, journey=journey, since=since, until=until, segment=segment)
    phases = [p for p in within.phases if not p.is_archived]
    channels = {c.id: c.key for c in lists.entries(session, Channel, active_only=False)}
    groups = [p.id for p in phases], list(channels), list(Initiator)
    steps = analytics.funnel(session, within)
    stays = stay_lengths.time_in_phase(session, within)
    columns = {
        p.id: MapColumn(
            phase=PhasePublic.model_validate(p, from_attributes=True),
            by_channel={},
            by_initiator={},
            median_days=stays[p.id].median_days,
            p90_days=stays[p.id].p90_days,
            entered=steps[p.id].entered,
            moved_on_share=steps[p.id].conversion,
            dropped_share=steps[p.id].drop_off,
        )
        for p in phases
    }
    sentiment: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # sum, answers
    nps: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # promoters, detractors, answers
    for row in _touchpoints(session, within, *groups):
        column = columns.get(row.phase_id)
        if column is None:  # an archived phase: not on the map
            continue
        column.touchpoints += row.touchpoints
        channel = channels.get(row.channel_id, str(row.channel_id))
        column.by_channel[channel] = column.by_channel.get(channel, 0) + row.touchpoints
        column.by_initiator[row.initiated_by] = (
            column.by_initiator.get(row.initiated_by, 0) + row.touchpoints
        )
        sentiment[row.phase_id][0] += row.sentiment_sum or 0
        sentiment[row.phase_id][1] += row.sentiments
        for i, value in enumerate((row.promoters, row.detractors, row.answers)):
            nps[row.phase_id][i] += value
    total = sum(c.touchpoints for c in columns.values())
    for phase_id, column in columns.items():
        total_sentiment, answers = sentiment[phase_id]
        column.sentiment = round(total_sentiment / answers, 2) if answers else None
        column.sentiment_answers = answers
        column.nps = analytics.nps_score(*nps[phase_id])
        column.nps_answers = nps[phase_id][2]
        column.gap = bool(total) and column.touchpoints < GAP_SHARE * total / len(columns)
    return JourneyMap(
        journey_id=journey.id, rows=list(MAP_ROWS), columns=[columns[p.id] for p in phases]
    )


def _touchpoints(
    session: Session,
    within: analytics.Scope,
    phase_ids: list[int],
    channel_ids: list[int],
    initiators: list[str],
) -> list[Any]:
    """The period's touchpoints per phase, channel and initiator, with their sentiment
    and NPS sums: kept per day, else counted. Naming every group lets the database read
    one index range per group, in the index's order, instead of sorting the period's
    rows."""
    if within.daily:
        return tallies.read(
            session,
            daily.TOUCHPOINTS,
            where=lambda table: [
                *within.days(table),
                col(table.phase_id).in_(phase_ids),
                col(table.channel_id).in_(channel_ids),
                col(table.initiated_by).in_(initiators),
            ],
            by=["phase_id", "channel_id", "initiated_by"],
        )
    tp = TouchpointPhase
    query = (
        select(
            tp.phase_id,
            tp.channel_id,
            tp.initiated_by,
            func.count().label("touchpoints"),
            func.sum(tp.sentiment).label("sentiment_sum"),
            func.count(tp.sentiment).label("sentiments"),
            func.count().filter(tp.nps >= 9).label("promoters"),
            func.count().filter(tp.nps <= 6).label("detractors"),
            func.count(tp.nps).label("answers"),
        )
        .where(
            *within.of(tp),
            col(tp.phase_id).in_(phase_ids),
            col(tp.channel_id).in_(channel_ids),
            col(tp.initiated_by).in_(initiators),
            tp.occurred_at >= within.since,
            tp.occurred_at < within.until,
        )
        .group_by(tp.phase_id, tp.channel_id, tp.initiated_by)
    )
    return list(session.execute(query))


def csv_rows(found: JourneyMap) -> list[tuple[Any, ...]]:
    """The map in long form: (phase, row, value); the configured rows first."""
    rows: list[tuple[Any, ...]] = []
    for column in found.columns:
        name = column.phase.name
        rows += [(name, row, getattr(column.phase, row) or "") for row in found.rows]
        figures = column.model_dump(exclude={"phase", "by_channel", "by_initiator"})
        rows += [(name, measure, value) for measure, value in figures.items()]
        rows += [(name, f"channel:{key}", n) for key, n in sorted(column.by_channel.items())]
        rows += [(name, f"initiated_by:{key}", n) for key, n in sorted(column.by_initiator.items())]
    return rows
