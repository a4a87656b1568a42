"""Journeys: templates, phase editing, enrollments, moves, and time in phase."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import select

from crm.core.errors import Conflict, Invalid
from crm.journeys import service
from crm.journeys.models import (
    EnrollmentCreate,
    EnrollmentStatus,
    Journey,
    JourneyCreate,
    MoveRequest,
    PhaseCreate,
    PhaseKind,
    PhaseUpdate,
)
from crm.journeys.models import PhaseTransition as Transition
from tests.factories import make_company, make_contact
from tests.unit.journeys.history import T0, day


@pytest.fixture
def phases(session, journey):
    return {p.key: p for p in service.phases_of(session, journey)}


def enroll(session, journey, phase, *, at=T0, **subject):
    subject = subject or {"contact_id": make_contact(session).id}
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, at=at, **subject)
    return service.enroll(session, data=data, actor_id=None)


def move(session, enrollment, *, at, **fields):
    return service.move(
        session, enrollment=enrollment, data=MoveRequest(at=at, **fields), actor_id=None
    )


class TestJourneys:
    def test_the_default_install_has_the_classic_journey(self, session):
        classic = session.exec(select(Journey).where(Journey.name == "Classic")).one()
        keys = [p.key for p in service.phases_of(session, classic)]
        assert keys == ["awareness", "consideration", "conversion", "retention", "advocacy"]

    def test_a_template_with_sub_phases(self, session):
        journey = service.create_journey(
            session, data=JourneyCreate(name="B2B", template="b2b_after_sales"), actor_id=None
        )
        phases = {p.key: p for p in service.phases_of(session, journey)}
        assert phases["negotiation"].parent_id == phases["acquisition"].id
        assert phases["repurchase"].parent_id == phases["after_sales"].id
        assert phases["loyalty"].kind == PhaseKind.POST_PURCHASE

    def test_from_scratch_and_phases_added_at_the_end(self, session):
        journey = service.create_journey(session, data=JourneyCreate(name="Own"), actor_id=None)
        assert service.phases_of(session, journey) == []
        first = service.add_phase(
            session, journey=journey, data=PhaseCreate(name="Erstkontakt"), actor_id=None
        )
        second = service.add_phase(
            session, journey=journey, data=PhaseCreate(name="Erstkontakt!"), actor_id=None
        )
        assert (first.key, second.key) == ("erstkontakt", "erstkontakt_2")
        assert second.position > first.position

    def test_names_are_required_and_unique(self, session, journey):
        with pytest.raises(ValidationError):
            JourneyCreate(name="  ")
        with pytest.raises(Invalid):
            service.create_journey(session, data=JourneyCreate(name="test JOURNEY"), actor_id=None)
        with pytest.raises(Invalid):
            service.create_journey(
                session, data=JourneyCreate(name="Other", template="nope"), actor_id=None
            )

    def test_reorder_needs_every_phase_once(self, session, journey, phases):
        ids = [p.id for p in phases.values()]
        reordered = service.reorder_phases(
            session, journey=journey, phase_ids=ids[::-1], actor_id=None
        )
        assert [p.id for p in reordered] == ids[::-1]
        with pytest.raises(Invalid):
            service.reorder_phases(session, journey=journey, phase_ids=ids[1:], actor_id=None)

    def test_sub_phases_cannot_form_a_cycle_or_cross_journeys(self, session, journey, phases):
        a, b = phases["retention"], phases["advocacy"]
        service.update_phase(session, phase=b, data=PhaseUpdate(parent_id=a.id), actor_id=None)
        with pytest.raises(Invalid):
            service.update_phase(session, phase=a, data=PhaseUpdate(parent_id=b.id), actor_id=None)
        with pytest.raises(Invalid):
            service.update_phase(session, phase=a, data=PhaseUpdate(parent_id=a.id), actor_id=None)
        other = service.create_journey(
            session, data=JourneyCreate(name="Other", template="b2b_five"), actor_id=None
        )
        foreign = service.phases_of(session, other)[0]
        with pytest.raises(Invalid):
            service.update_phase(
                session, phase=a, data=PhaseUpdate(parent_id=foreign.id), actor_id=None
            )

    def test_a_journey_with_history_is_archived_not_deleted(self, session, journey, phases):
        enroll(session, journey, phases["awareness"])
        with pytest.raises(Conflict):
            service.delete_journey(session, journey=journey, actor_id=None)
        unused = service.create_journey(session, data=JourneyCreate(name="Unused"), actor_id=None)
        service.delete_journey(session, journey=unused, actor_id=None)
        assert session.get(Journey, unused.id) is None

    def test_archiving_a_phase_that_holds_subjects_asks_where_they_go(
        self, session, journey, phases
    ):
        enrollment = enroll(session, journey, phases["awareness"])
        with pytest.raises(Invalid) as raised:
            service.archive_phase(
                session, phase=phases["awareness"], move_to_id=None, actor_id=None
            )
        assert raised.value.params == {"count": 1}
        service.archive_phase(
            session, phase=phases["awareness"], move_to_id=phases["consideration"].id, actor_id=None
        )
        assert enrollment.phase_id == phases["consideration"].id
        assert phases["awareness"].id not in {p.id for p in service.phases_of(session, journey)}
        with pytest.raises(Invalid):
            move(session, enrollment, at=None, phase_id=phases["awareness"].id)


class TestEnrollments:
    def test_enrolling_twice_is_refused_with_the_existing_enrollment(
        self, session, journey, phases
    ):
        contact = make_contact(session)
        first = enroll(session, journey, phases["awareness"], contact_id=contact.id)
        with pytest.raises(Conflict) as raised:
            enroll(session, journey, phases["consideration"], contact_id=contact.id)
        assert raised.value.details == {"existing_enrollment_id": first.id}

    def test_a_subject_may_be_in_several_journeys(self, session, journey, phases):
        company = make_company(session)
        other = service.create_journey(
            session, data=JourneyCreate(name="Other", template="b2b_five"), actor_id=None
        )
        enroll(session, journey, phases["awareness"], company_id=company.id)
        enroll(session, other, service.phases_of(session, other)[0], company_id=company.id)
        assert len(service.enrollments_of(session, company_id=company.id)) == 2

    def test_a_phase_of_another_journey_is_refused(self, session, journey, phases):
        other = service.create_journey(
            session, data=JourneyCreate(name="Other", template="b2b_five"), actor_id=None
        )
        foreign = service.phases_of(session, other)[0]
        with pytest.raises(Invalid):
            enroll(session, journey, foreign)
        enrollment = enroll(session, journey, phases["awareness"])
        with pytest.raises(Invalid):
            move(session, enrollment, at=day(1), phase_id=foreign.id)
        assert enrollment.phase_id == phases["awareness"].id

    def test_moves_cannot_go_back_in_time_or_into_the_future(self, session, journey, phases):
        enrollment = enroll(session, journey, phases["awareness"], at=day(10))
        with pytest.raises(Invalid):
            move(session, enrollment, at=day(9), phase_id=phases["consideration"].id)
        with pytest.raises(ValidationError):
            MoveRequest(
                phase_id=phases["consideration"].id, at=datetime.now(UTC) + timedelta(days=1)
            )
        with pytest.raises(ValidationError):
            MoveRequest(phase_id=phases["consideration"].id, exit=EnrollmentStatus.LOST)
        with pytest.raises(Invalid):
            move(session, enrollment, at=day(11), phase_id=phases["awareness"].id)

    def test_an_exit_needs_a_reason_from_the_list(self, session, journey, phases):
        enrollment = enroll(session, journey, phases["awareness"])
        with pytest.raises(Invalid):
            move(session, enrollment, at=day(1), exit=EnrollmentStatus.LOST)
        with pytest.raises(Invalid):
            move(session, enrollment, at=day(1), exit=EnrollmentStatus.LOST, exit_reason="bored")
        move(session, enrollment, at=day(1), exit=EnrollmentStatus.LOST, exit_reason="competitor")
        assert enrollment.status == EnrollmentStatus.LOST and enrollment.ended_at == day(1)
        with pytest.raises(Conflict):
            move(session, enrollment, at=day(2), exit=EnrollmentStatus.CHURNED, exit_reason="price")


class TestTimeInPhase:
    def test_back_moves_re_entries_and_exits(self, session, journey, phases):
        awareness, consideration, conversion, retention = (
            phases[k] for k in ("awareness", "consideration", "conversion", "retention")
        )
        enrollment = enroll(session, journey, awareness, at=day(0))
        move(session, enrollment, at=day(3), phase_id=consideration.id)
        move(session, enrollment, at=day(5), phase_id=awareness.id)  # back
        move(session, enrollment, at=day(6), phase_id=conversion.id)  # skips consideration
        move(session, enrollment, at=day(8), phase_id=retention.id)
        move(session, enrollment, at=day(38), exit=EnrollmentStatus.CHURNED, exit_reason="price")
        move(session, enrollment, at=day(100), phase_id=consideration.id)  # comes back

        history = service.transitions_of(session, enrollment=enrollment)
        assert [(t.from_phase_id, t.to_phase_id, t.status) for t in history] == [
            (None, awareness.id, "active"),
            (awareness.id, consideration.id, "active"),
            (consideration.id, awareness.id, "active"),
            (awareness.id, conversion.id, "active"),
            (conversion.id, retention.id, "active"),
            (retention.id, None, "churned"),
            (None, consideration.id, "active"),  # a re-entry
        ]
        totals = {
            t.phase_id: (t.entries, t.days) for t in service.time_in_phases(history, now=day(110))
        }
        assert totals == {
            awareness.id: (2, 3 + 1),
            consideration.id: (2, 2 + 10),
            conversion.id: (1, 2),
            retention.id: (1, 30),  # the 62 days away count nowhere
        }
        assert enrollment.status == EnrollmentStatus.ACTIVE
        assert enrollment.phase_since == day(100) and enrollment.ended_at is None

    def test_an_exited_subject_stops_counting(self, session, journey, phases):
        enrollment = enroll(session, journey, phases["awareness"], at=day(0))
        move(session, enrollment, at=day(2.5), exit=EnrollmentStatus.WON, exit_reason="purchased")
        history = service.transitions_of(session, enrollment=enrollment)
        [total] = service.time_in_phases(history, now=day(50))
        assert (total.entries, total.days) == (1, 2.5)
        assert session.exec(
            select(Transition).where(Transition.enrollment_id == enrollment.id)
        ).all()


def test_each_transition_knows_when_the_next_one_came(session, journey, phases):
    enrollment = enroll(session, journey, phases["awareness"], at=day(0))
    move(session, enrollment, at=day(2), phase_id=phases["conversion"].id)
    move(session, enrollment, at=day(5), exit=EnrollmentStatus.WON, exit_reason="purchased")
    move(session, enrollment, at=day(9), phase_id=phases["retention"].id)
    history = service.transitions_of(session, enrollment=enrollment)
    assert [t.until for t in history] == [day(2), day(5), day(9), None]


def test_archiving_moves_every_subject_with_its_history(session, journey, phases):
    many = [enroll(session, journey, phases["awareness"], at=day(n)) for n in range(3)]
    service.archive_phase(
        session, phase=phases["awareness"], move_to_id=phases["advocacy"].id, actor_id=None
    )
    for enrollment in many:
        first, moved = service.transitions_of(session, enrollment=enrollment)
        assert (moved.from_phase_id, moved.to_phase_id, moved.reason) == (
            phases["awareness"].id,
            phases["advocacy"].id,
            service.PHASE_ARCHIVED,
        )
        assert first.until == moved.at == enrollment.phase_since and moved.until is None
        assert enrollment.phase_id == phases["advocacy"].id
