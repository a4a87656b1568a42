"""Which phase a touchpoint counts toward: the stay its subject was in when it happened,
in each journey the subject was in then.

A contact's own stay comes first; a contact without one at that time counts toward its
company's (the company's phase is what such a contact shows). The answer is kept in
``touchpoint_phase`` and refreshed, set-based, for exactly the touchpoints a change can
affect: a logged or edited touchpoint, or a subject's touchpoints from the time of a
move onwards (moves never lie before the last one, so nothing earlier changes).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from crm.journeys.models import Enrollment, TouchpointPhase
from crm.journeys.models import PhaseTransition as Transition
from crm.touchpoints.models import Touchpoint

COPIED = ("occurred_at", "channel_id", "initiated_by", "sentiment", "nps")
_TARGET = [
    "touchpoint_id",
    "journey_id",
    "enrollment_id",
    "phase_id",
    *COPIED,
]
_HELD = aliased(TouchpointPhase, name="held")


def refresh(
    session: Session,
    *,
    touchpoint_ids: list[int] | None = None,
    contact_id: int | None = None,
    company_id: int | None = None,
    since: datetime | None = None,
    journey_id: int | None = None,
    new: bool = False,
) -> None:
    """Recompute the attribution of the touchpoints that match every given condition
    (all touchpoints when none is given), in ``journey_id`` or in every journey. ``new``
    touchpoints have none yet: there is nothing to remove first."""
    scope = []
    if touchpoint_ids is not None:
        scope.append(col(Touchpoint.id).in_(touchpoint_ids))
    if contact_id is not None:
        scope.append(Touchpoint.contact_id == contact_id)
    if company_id is not None:
        scope.append(Touchpoint.company_id == company_id)
    if since is not None:
        scope.append(Touchpoint.occurred_at >= since)
    if not new:
        stale = delete(TouchpointPhase)
        if scope:
            stale = stale.where(
                col(TouchpointPhase.touchpoint_id).in_(select(Touchpoint.id).where(*scope))
            )
        if journey_id is not None:
            stale = stale.where(TouchpointPhase.journey_id == journey_id)
        session.execute(stale)
    # The contacts' own stays first; then their companies', where no own stay counted.
    for subject in (Enrollment.contact_id, Enrollment.company_id):
        session.execute(
            insert(TouchpointPhase).from_select(_TARGET, _stays(subject, scope, journey_id))
        )


def _stays(subject: Any, scope: list[Any], journey_id: int | None) -> Any:
    """The (touchpoint, stay) pairs in which the touchpoint's ``subject`` was in a phase."""
    key = Touchpoint.contact_id if subject is Enrollment.contact_id else Touchpoint.company_id
    query = (
        select(
            Touchpoint.id,
            Transition.journey_id,
            Transition.enrollment_id,
            Transition.to_phase_id,
            *(getattr(Touchpoint, name) for name in COPIED),
        )
        .join(Enrollment, subject == key)
        .join(
            Transition,
            and_(
                Transition.enrollment_id == Enrollment.id,
                col(Transition.to_phase_id).is_not(None),
                Transition.at <= Touchpoint.occurred_at,
                or_(col(Transition.until).is_(None), Touchpoint.occurred_at < Transition.until),
            ),
        )
        .where(*scope)
    )
    if journey_id is not None:
        query = query.where(Enrollment.journey_id == journey_id)
    if subject is Enrollment.company_id:
        counted = select(_HELD.touchpoint_id).where(
            _HELD.touchpoint_id == Touchpoint.id, _HELD.journey_id == Enrollment.journey_id
        )
        query = query.where(~counted.exists())
    return query
