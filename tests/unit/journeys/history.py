"""Histories for journey tests: times as days from T0, and a subject's path through them."""

from datetime import UTC, datetime, timedelta

from crm.journeys import service
from crm.journeys.models import EnrollmentCreate, MoveRequest

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
EXIT_REASONS = {"lost": "no_budget", "churned": "price", "won": "purchased"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def live(session, journey, steps, **subject):
    """Enrol at the first step's time, then follow the steps: (day, phase key or exit)."""
    phases = {p.key: p.id for p in service.phases_of(session, journey)}
    (start, first), *rest = steps
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phases[first], at=day(start), **subject)
    enrollment = service.enroll(session, data=data, actor_id=None)
    for at, where in rest:
        if where in EXIT_REASONS:
            request = MoveRequest(at=day(at), exit=where, exit_reason=EXIT_REASONS[where])
        else:
            request = MoveRequest(at=day(at), phase_id=phases[where])
        service.move(session, enrollment=enrollment, data=request, actor_id=None)
    return enrollment
