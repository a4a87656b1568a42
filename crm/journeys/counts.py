"""The journey boards' column counts: active enrollments per phase, kept as they change
(see ``crm.core.tallies``; the triggers are in the migration phase_counts). Counting a
journey's active enrollments on each view read every one (50 ms for the half million of
size L on PostgreSQL).
"""

from sqlmodel import Session, col

from crm.core import tallies
from crm.journeys.models import PhaseCount, PhaseCountChange

KEYS, SUMS = ["phase_id"], ["active"]


def active_by_phase(session: Session, *, phase_ids: list[int]) -> dict[int, int]:
    rows = tallies.read(
        session,
        PhaseCount,
        PhaseCountChange,
        keys=KEYS,
        sums=SUMS,
        where=lambda table: [col(table.phase_id).in_(phase_ids)],
    )
    return {phase_id: int(active) for phase_id, active in rows if active}


def settle(session: Session) -> int:
    return tallies.settle(session, PhaseCount, PhaseCountChange, keys=KEYS, sums=SUMS)
