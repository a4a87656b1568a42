"""Touchpoints count toward the phase their subject was in when they happened."""

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.journeys import service
from crm.journeys.models import EnrollmentCreate, JourneyCreate, MoveRequest, TouchpointPhase
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate, TouchpointUpdate
from tests.factories import make_company, make_contact
from tests.unit.journeys.history import day


@pytest.fixture
def phase(session, journey):
    return {p.key: p.id for p in service.phases_of(session, journey)}


def enrol(session, journey, phase, at, key="awareness", **subject):
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phase[key], at=day(at), **subject)
    return service.enroll(session, data=data, actor_id=None)


def move(session, enrollment, at, **request):
    service.move(
        session, enrollment=enrollment, data=MoveRequest(at=day(at), **request), actor_id=None
    )


def log(session, at, **subject):
    data = TouchpointCreate(summary="Call", occurred_at=day(at), sentiment=1, **subject)
    return touchpoint_service.log_touchpoint(session, data=data, actor_id=None)


def counted(session, touchpoint, journey):
    """(enrollment, phase) the touchpoint counts toward in the journey, or None."""
    row = session.exec(
        select(TouchpointPhase).where(
            TouchpointPhase.touchpoint_id == touchpoint.id, TouchpointPhase.journey_id == journey.id
        )
    ).first()
    return (row.enrollment_id, row.phase_id) if row else None


def test_the_phase_at_the_time_counts(session, journey, phase):
    contact = make_contact(session)
    enrollment = enrol(session, journey, phase, 0, contact_id=contact.id)
    move(session, enrollment, 10, phase_id=phase["consideration"])
    before, early, late = (log(session, at, contact_id=contact.id) for at in (-1, 5, 12))
    assert counted(session, before, journey) is None
    assert counted(session, early, journey) == (enrollment.id, phase["awareness"])
    assert counted(session, late, journey) == (enrollment.id, phase["consideration"])


def test_a_move_recorded_later_takes_the_touchpoints_after_it(session, journey, phase):
    contact = make_contact(session)
    enrollment = enrol(session, journey, phase, 0, contact_id=contact.id)
    first, second = log(session, 14, contact_id=contact.id), log(session, 20, contact_id=contact.id)
    # entered afterwards, with the time it really happened
    move(session, enrollment, 15, phase_id=phase["conversion"])
    assert counted(session, first, journey) == (enrollment.id, phase["awareness"])
    assert counted(session, second, journey) == (enrollment.id, phase["conversion"])
    move(session, enrollment, 25, exit="lost", exit_reason="no_budget")
    gone = log(session, 30, contact_id=contact.id)
    assert counted(session, gone, journey) is None
    back = log(session, 45, contact_id=contact.id)
    move(session, enrollment, 40, phase_id=phase["consideration"])  # re-entry
    assert counted(session, gone, journey) is None
    assert counted(session, back, journey) == (enrollment.id, phase["consideration"])


def test_a_contact_counts_toward_its_company_until_it_has_its_own_stay(session, journey, phase):
    company = make_company(session)
    contact = make_contact(session, company_id=company.id)
    of_company = enrol(session, journey, phase, 0, "consideration", company_id=company.id)
    early = log(session, 5, contact_id=contact.id)
    assert counted(session, early, journey) == (of_company.id, phase["consideration"])
    later = log(session, 25, contact_id=contact.id)
    own = enrol(session, journey, phase, 20, "conversion", contact_id=contact.id)
    assert counted(session, early, journey) == (of_company.id, phase["consideration"])
    assert counted(session, later, journey) == (own.id, phase["conversion"])
    # the company's own touchpoints stay with the company
    direct = log(session, 26, company_id=company.id)
    assert counted(session, direct, journey) == (of_company.id, phase["consideration"])


def test_each_journey_counts_it(session, journey, phase):
    other = service.create_journey(
        session, data=JourneyCreate(name="Second", template="b2b_five"), actor_id=None
    )
    other_first = service.phases_of(session, other)[0]
    contact = make_contact(session)
    enrol(session, journey, phase, 0, contact_id=contact.id)
    data = EnrollmentCreate(
        journey_id=other.id, phase_id=other_first.id, at=day(2), contact_id=contact.id
    )
    service.enroll(session, data=data, actor_id=None)
    touchpoint = log(session, 3, contact_id=contact.id)
    assert counted(session, touchpoint, journey)[1] == phase["awareness"]
    assert counted(session, touchpoint, other)[1] == other_first.id


def test_editing_or_deleting_a_touchpoint_follows_it(session, journey, phase):
    contact = make_contact(session)
    enrollment = enrol(session, journey, phase, 0, contact_id=contact.id)
    move(session, enrollment, 10, phase_id=phase["consideration"])
    touchpoint = log(session, 5, contact_id=contact.id)
    touchpoint_service.update_touchpoint(
        session,
        touchpoint=touchpoint,
        data=TouchpointUpdate(occurred_at=day(11), nps=9),
        actor_id=None,
    )
    row = session.get(TouchpointPhase, (touchpoint.id, journey.id))
    assert (row.phase_id, row.occurred_at, row.nps) == (phase["consideration"], day(11), 9)
    touchpoint_service.delete_touchpoint(session, touchpoint=touchpoint, actor_id=None)
    session.expire_all()
    assert session.get(TouchpointPhase, (touchpoint.id, journey.id)) is None


def test_archiving_a_phase_moves_what_follows(session, journey, phase):
    contact = make_contact(session)
    enrol(session, journey, phase, 0, "advocacy", contact_id=contact.id)
    advocacy = service.get_phase(session, phase_id=phase["advocacy"])
    service.archive_phase(session, phase=advocacy, move_to_id=phase["retention"], actor_id=None)
    now = datetime.now(UTC)
    touchpoint = touchpoint_service.log_touchpoint(
        session,
        data=TouchpointCreate(summary="Call", contact_id=contact.id, occurred_at=now),
        actor_id=None,
    )
    assert counted(session, touchpoint, journey)[1] == phase["retention"]


def test_merged_touchpoints_count_toward_the_target(session, journey, phase):
    target, duplicate = make_contact(session), make_contact(session)
    kept = enrol(session, journey, phase, 0, "retention", contact_id=target.id)
    touchpoint = log(session, 5, contact_id=duplicate.id)
    assert counted(session, touchpoint, journey) is None
    contact_service.merge_contacts(
        session, target=target, duplicate=duplicate, take_from_duplicate=set(), actor_id=None
    )
    assert counted(session, touchpoint, journey) == (kept.id, phase["retention"])


def test_stays_know_their_next_step(session, journey, phase):
    contact = make_contact(session)
    enrollment = enrol(session, journey, phase, 0, contact_id=contact.id)
    move(session, enrollment, 5, phase_id=phase["consideration"])
    move(session, enrollment, 8, phase_id=phase["awareness"])
    move(session, enrollment, 9, exit="lost", exit_reason="no_need")
    steps = service.transitions_of(session, enrollment=enrollment)
    assert [(s.next_phase_id, s.next_status) for s in steps] == [
        (phase["consideration"], "active"),
        (phase["awareness"], "active"),
        (None, "lost"),
        (None, None),
    ]
    # the first stay in awareness knows when awareness was entered again
    assert [s.reentered_at for s in steps] == [day(8), None, None, None]
    assert [s.days for s in steps[:3]] == [pytest.approx(5), pytest.approx(3), pytest.approx(1)]
    assert steps[3].days is None
    assert {s.journey_id for s in steps} == {journey.id}
