"""Two moves of one enrollment at the same moment take turns: the second sees where the
first left it, and the history keeps one open stay."""

import threading
import time

from sqlalchemy import text
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.core.db import job_session
from crm.journeys import service
from crm.journeys.models import Enrollment, EnrollmentCreate, MoveRequest
from crm.journeys.models import PhaseTransition as Transition
from tests.factories import make_contact


def wait_until_blocked(engine, thread: threading.Thread) -> None:
    """Until the other transaction waits for a lock (PostgreSQL), or a moment (SQLite,
    whose second writer waits to begin)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.2)
        return
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while thread.is_alive() and time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar():
                return
            time.sleep(0.02)
    raise AssertionError("the second move did not wait for the first")


def test_two_moves_at_once_take_turns(engine):
    with job_session(engine) as session:
        journey = service.list_journeys(session)[0]
        phases = {p.key: p.id for p in service.phases_of(session, journey)}
        contact = make_contact(session, first_name="Racing")
        data = EnrollmentCreate(
            journey_id=journey.id, phase_id=phases["awareness"], contact_id=contact.id
        )
        enrollment_id = service.enroll(session, data=data, actor_id=None).id
        contact_id = contact.id
    try:
        failures = []

        def second_move() -> None:
            try:
                with job_session(engine) as session:
                    enrollment = session.get(Enrollment, enrollment_id)
                    request = MoveRequest(phase_id=phases["conversion"])
                    service.move(session, enrollment=enrollment, data=request, actor_id=None)
            except Exception as exc:  # reported below, in the test's own thread
                failures.append(exc)

        first = Session(engine, expire_on_commit=False)
        try:
            enrollment = first.get(Enrollment, enrollment_id)
            request = MoveRequest(phase_id=phases["consideration"])
            service.move(first, enrollment=enrollment, data=request, actor_id=None)
            other = threading.Thread(target=second_move)
            other.start()
            wait_until_blocked(engine, other)
            first.commit()
            other.join(timeout=30)
        finally:
            first.close()
        assert failures == []
        with job_session(engine) as session:
            history = session.exec(
                select(Transition)
                .where(Transition.enrollment_id == enrollment_id)
                .order_by(col(Transition.at), col(Transition.id))
            ).all()
            assert [(t.from_phase_id, t.to_phase_id) for t in history] == [
                (None, phases["awareness"]),
                (phases["awareness"], phases["consideration"]),
                (phases["consideration"], phases["conversion"]),
            ]
            assert [t.until is None for t in history] == [False, False, True]
            assert session.get(Enrollment, enrollment_id).phase_id == phases["conversion"]
    finally:
        with job_session(engine) as session:
            contact = contact_service.get_contact(session, contact_id=contact_id)
            contact_service.delete_contact(session, contact=contact, actor_id=None)
