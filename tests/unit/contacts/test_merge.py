import pytest

from crm.contacts import service
from crm.core import audit
from crm.core.errors import Invalid, NotFound
from crm.touchpoints import service as touchpoint_service
from tests.factories import log_touchpoint, make_company, make_contact


def test_merging_contacts_keeps_everything_and_deletes_the_duplicate(session):
    company = make_company(session)
    target = make_contact(
        session,
        first_name="Anna",
        last_name="Alt",
        job_title=None,
        emails=["anna@old.example"],
        phones=["+4930111111"],
    )
    duplicate = make_contact(
        session,
        first_name="Anna",
        last_name="Neu",
        job_title="CEO",
        company_id=company.id,
        emails=["anna@new.example"],
        phones=["+4930222222", "+4930111111"],
    )
    kept = log_touchpoint(session, contact_id=target.id).id
    moved = log_touchpoint(session, contact_id=duplicate.id).id
    duplicate_id = duplicate.id
    service.merge_contacts(
        session,
        target=target,
        duplicate=duplicate,
        take_from_duplicate={"last_name"},
        actor_id=None,
    )
    session.commit()
    session.expire_all()
    merged = service.get_contact(session, contact_id=target.id)
    assert (merged.last_name, merged.job_title, merged.company_id) == ("Neu", "CEO", company.id)
    assert merged.emails == ["anna@old.example", "anna@new.example"]
    assert merged.phones == ["+4930111111", "+4930222222"]
    timeline, _ = touchpoint_service.list_touchpoints(session, contact_id=target.id)
    assert {t.id for t in timeline} == {kept, moved}
    with pytest.raises(NotFound):
        service.get_contact(session, contact_id=duplicate_id)
    assert service.find_by_email(session, email="anna@new.example").id == target.id
    assert target.id in {c.id for c in service.list_contacts(session, q="anna@new")[0]}
    assert (
        audit.events_for(session, entity_type="contact", entity_id=duplicate_id)[0].action
        == "contact.merged_into"
    )
    event = audit.events_for(session, entity_type="contact", entity_id=target.id)[0]
    assert event.action == "contact.merge" and "touchpoint.contact_id" in event.fields


def test_a_contact_is_not_merged_with_itself_nor_with_unknown_fields(session):
    contact = make_contact(session)
    with pytest.raises(Invalid):
        service.merge_contacts(
            session, target=contact, duplicate=contact, take_from_duplicate=set(), actor_id=None
        )
    other = make_contact(session)
    with pytest.raises(Invalid):
        service.merge_contacts(
            session,
            target=contact,
            duplicate=other,
            take_from_duplicate={"password"},
            actor_id=None,
        )


def test_merging_companies_moves_their_people_and_touchpoints(session):
    target = make_company(session, name="Müller GmbH", city=None)
    duplicate = make_company(session, name="Mueller GmbH", city="Köln")
    person = make_contact(session, company_id=duplicate.id)
    touchpoint = log_touchpoint(session, company_id=duplicate.id).id
    duplicate_id = duplicate.id
    service.merge_companies(
        session, target=target, duplicate=duplicate, take_from_duplicate=set(), actor_id=None
    )
    session.commit()
    session.expire_all()
    assert service.get_contact(session, contact_id=person.id).company_id == target.id
    assert (
        touchpoint_service.get_touchpoint(session, touchpoint_id=touchpoint).company_id == target.id
    )
    assert service.get_company(session, company_id=target.id).city == "Köln"
    with pytest.raises(NotFound):
        service.get_company(session, company_id=duplicate_id)
    assert person.id in {c.id for c in service.list_contacts(session, q="müller gmbh")[0]}


def test_merging_contacts_in_the_same_journey_keeps_the_targets_enrollment(session):
    from crm.journeys import service as journey_service
    from crm.journeys.models import EnrollmentCreate, JourneyCreate

    classic, other = (
        journey_service.create_journey(
            session, data=JourneyCreate(name=name, template="classic"), actor_id=None
        )
        for name in ("Shared", "Only the duplicate's")
    )
    target, duplicate = make_contact(session), make_contact(session)
    enrollments = {}
    for journey, contact in ((classic, target), (classic, duplicate), (other, duplicate)):
        phase = journey_service.phases_of(session, journey)[1]
        data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, contact_id=contact.id)
        enrollments[journey.name, contact.id] = journey_service.enroll(
            session, data=data, actor_id=None
        ).id
    service.merge_contacts(
        session, target=target, duplicate=duplicate, take_from_duplicate=set(), actor_id=None
    )
    kept = {e.id for e in journey_service.enrollments_of(session, contact_id=target.id)}
    assert kept == {
        enrollments["Shared", target.id],
        enrollments["Only the duplicate's", duplicate.id],
    }
