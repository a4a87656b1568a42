"""The journey boards' column counts: active enrollments per phase, kept as they change
(see ``crm.core.tallies``; the triggers are in the migration phase_counts). Counting a
journey's active enrollments on each view read every one (50 ms for the half million of
size L on PostgreSQL).
"""

from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.core import tallies
from crm.journeys.models import Enrollment, EnrollmentStatus, PhaseCount, PhaseCountChange


def _count(session: Session) -> tallies.Counted:
    query = (
        select(Enrollment.phase_id, func.count())
        .where(Enrollment.status == EnrollmentStatus.ACTIVE)
        .group_by(Enrollment.phase_id)
    )
    return {(phase_id,): [n] for phase_id, n in session.exec(query)}


BOARD = tallies.Tally(
    "journey board counts", PhaseCount, PhaseCountChange, ["phase_id"], ["active"], _count
)


def active_by_phase(session: Session, *, phase_ids: list[int]) -> dict[int, int]:
    rows = tallies.read(session, BOARD, where=lambda table: [col(table.phase_id).in_(phase_ids)])
    return {phase_id: int(active) for phase_id, active in rows if active}
