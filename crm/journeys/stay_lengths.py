"""Time in phase: how long the stays that ended in a period lasted, per phase: how many
fell into each band of days, and the median and 90th percentile, read off the index of
stay lengths from the band that holds them (see ``analytics`` for the definitions)."""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlmodel import Session

from crm.core import tallies
from crm.journeys import daily
from crm.journeys.models import PhaseTransition as Transition

if TYPE_CHECKING:  # analytics builds the figures from these
    from crm.journeys.analytics import Scope

# Upper bounds (days) of the bands of the time-in-phase distribution; the last is open.
BANDS = (7, 14, 30, 60, 90, 180)


class TimeInPhase(BaseModel):
    phase_id: int
    stays: int = 0
    median_days: float | None = None
    p90_days: float | None = None
    bands: list[int] = Field(
        default_factory=lambda: [0] * (len(BANDS) + 1),
        description="Stays per band of days: under 7, 14, 30, 60, 90, 180, and longer.",
    )


def time_in_phase(session: Session, within: "Scope") -> dict[int, TimeInPhase]:
    """Per phase, the stays that ended in the period: how many fell into each band (kept
    per day, else one index range), and the median and 90th percentile read off the index
    of stay lengths, starting at the band that holds them."""
    kept = _kept_lengths(session, within) if within.daily else {}
    result = {}
    for phase in within.phases:
        ended = [
            *within.of(Transition),
            Transition.to_phase_id == phase.id,
            Transition.until >= within.since,
            Transition.until < within.until,
        ]
        if within.daily:  # the finer bands of the kept figures: shorter walks below
            per_band = kept.get(phase.id, {})
            bounds = daily.LENGTHS[1:]
            below = [sum(n for lower, n in per_band.items() if lower < b) for b in bounds]
            total = sum(per_band.values())
        else:
            bounds = BANDS
            total, *below = session.execute(
                select(
                    func.count(), *(func.count().filter(Transition.days < b) for b in BANDS)
                ).where(*ended)
            ).one()
        under = [below[bounds.index(b)] for b in BANDS]
        stays = TimeInPhase(phase_id=phase.id, stays=total)
        stays.bands = [b - a for a, b in zip([0, *under], [*under, total], strict=True)]
        if total:
            at = _Bands(ended, bounds, below)
            middle = _ranked(session, at, (total - 1) // 2, 2 - total % 2)
            stays.median_days = sum(middle) / len(middle)
            stays.p90_days = _ranked(session, at, min(total - 1, int(total * 0.9)))[0]
        result[phase.id] = stays
    return result


def _kept_lengths(session: Session, within: "Scope") -> dict[int, dict[int, int]]:
    """Per phase, the stays that ended in the period per band of ``daily.LENGTHS``."""
    rows = tallies.read(session, daily.ENDS, where=within.days, by=["phase_id", "from_days"])
    lengths: dict[int, dict[int, int]] = {}
    for phase_id, from_days, stays in rows:
        lengths.setdefault(phase_id, {})[from_days] = int(stays)
    return lengths


@dataclass
class _Bands:
    ended: list[Any]  # the conditions that keep a phase's stays that ended in the period
    bounds: Sequence[int]  # the bands' upper bounds (days); the last band is open
    below: list[int]  # how many of the stays lie under each bound


def _ranked(session: Session, bands: _Bands, rank: int, count: int = 1) -> list[float]:
    """The lengths of the stays from the ``rank``-th shortest (0-based) on, walking the
    length index from the end of the band that holds that rank nearer to it."""
    band = bisect.bisect_right(bands.below, rank)
    floor, skip = (bands.bounds[band - 1], bands.below[band - 1]) if band else (0.0, 0)
    if band < len(bands.bounds):
        upper, end = bands.bounds[band], bands.below[band]
        if rank + count <= end and end - rank < rank - skip:  # down from the band's top
            query = (
                select(Transition.days)
                .where(*bands.ended, Transition.days < upper)
                .order_by(Transition.days.desc())  # type: ignore[union-attr]
                .offset(end - rank - count)
                .limit(count)
            )
            return sorted(session.scalars(query))
    query = (
        select(Transition.days)
        .where(*bands.ended, Transition.days >= floor)
        .order_by(Transition.days)
        .offset(rank - skip)
        .limit(count)
    )
    return list(session.scalars(query))


BAND_NAMES = [f"under_{bound}_days" for bound in BANDS] + [f"{BANDS[-1]}_days_or_more"]
