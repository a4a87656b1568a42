"""The board's counts kept as enrollments change (database triggers, settled by a job)."""

from sqlalchemy import delete, func
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.core import tallies
from crm.core.db import job_session
from crm.journeys import counts
from crm.journeys import service as journey_service
from crm.journeys.jobs import settle_phase_counts
from crm.journeys.models import (
    Enrollment,
    EnrollmentCreate,
    EnrollmentStatus,
    Journey,
    PhaseCountChange,
)
from tests.factories import make_company, make_contact
from tests.unit.journeys.history import day
from tests.unit.journeys.test_service import enroll, move


def live(session, journey_id: int) -> dict[int, int]:
    query = (
        select(Enrollment.phase_id, func.count())
        .where(Enrollment.journey_id == journey_id, Enrollment.status == EnrollmentStatus.ACTIVE)
        .group_by(Enrollment.phase_id)
    )
    return dict(session.exec(query).all())


def kept(session, journey_id: int) -> dict[int, int]:
    phases = journey_service.phases_of(session, session.get(Journey, journey_id), archived=True)
    return counts.active_by_phase(session, phase_ids=[p.id for p in phases])


def changes(session) -> int:
    return session.exec(select(func.count()).select_from(PhaseCountChange)).one()


def assert_kept(session, journey):
    """The kept counts equal a count of the enrollments, before and after settling."""
    session.flush()
    assert kept(session, journey.id) == live(session, journey.id)
    tallies.settle(session, counts.BOARD)
    assert changes(session) == 0
    assert kept(session, journey.id) == live(session, journey.id)
    assert tallies.settle(session, counts.BOARD) == 0


def test_counts_follow_enrollments_moves_exits_and_cascades(session, journey):
    phases = {p.key: p for p in journey_service.phases_of(session, journey)}
    gone = make_contact(session)
    first = enroll(session, journey, phases["awareness"], contact_id=gone.id)
    company = enroll(session, journey, phases["awareness"], company_id=make_company(session).id)
    third = enroll(session, journey, phases["consideration"])
    assert live(session, journey.id) == {phases["awareness"].id: 2, phases["consideration"].id: 1}
    assert_kept(session, journey)

    move(session, first, at=day(1), phase_id=phases["consideration"].id)
    move(session, company, at=day(2), exit=EnrollmentStatus.WON, exit_reason="price")
    move(session, third, at=day(3), exit=EnrollmentStatus.LOST, exit_reason="competitor")
    assert_kept(session, journey)

    move(session, third, at=day(4), phase_id=phases["retention"].id)  # back in, elsewhere
    assert_kept(session, journey)

    # Deleting the contact takes its enrollment by the database's cascade.
    contact_service.delete_contact(session, contact=gone, actor_id=None)
    session.expire_all()
    assert live(session, journey.id) == {phases["retention"].id: 1}
    assert_kept(session, journey)


def test_the_job_settles_what_others_committed(engine):
    with job_session(engine) as session:
        journey = journey_service.list_journeys(session)[0]
        phase = journey_service.phases_of(session, journey)[0]
        contact = make_contact(session, first_name="Settle")
        data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, contact_id=contact.id)
        journey_service.enroll(session, data=data, actor_id=None)
        journey_id, contact_id = journey.id, contact.id
    assert settle_phase_counts(engine) >= 1
    with job_session(engine) as session:
        assert changes(session) == 0
        assert kept(session, journey_id) == live(session, journey_id)
        session.execute(delete(Contact).where(Contact.id == contact_id))
    assert settle_phase_counts(engine) == 1
    with job_session(engine) as session:
        assert kept(session, journey_id) == live(session, journey_id)
