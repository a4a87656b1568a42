"""A contact with a record of every kind, for the export and erasure tests."""

import pytest

from crm.deals import service as deal_service
from crm.deals.models import DealContactIn, DealCreate
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.gdpr import cases, service
from crm.gdpr.models import ConsentChange, RequestCreate
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate
from tests.factories import log_touchpoint, make_contact, make_user
from tests.unit.journeys.history import day


@pytest.fixture
def subject(session):
    """A contact with a record of every kind, and another contact in the same deal."""
    user = make_user(session)
    person = make_contact(session, first_name="Xaver", last_name="Export", notes="Likes tea")
    other = make_contact(session, first_name="Olivia", last_name="Other")
    log_touchpoint(session, contact_id=person.id, summary="Called about the renewal")
    log_touchpoint(session, contact_id=other.id, summary="Olivia's own call")
    journey = journey_service.list_journeys(session)[0]
    phase = journey_service.phases_of(session, journey)[0]
    journey_service.enroll(
        session,
        data=EnrollmentCreate(
            journey_id=journey.id, phase_id=phase.id, contact_id=person.id, at=day(0)
        ),
        actor_id=None,
    )
    followup_service.create_followup(
        session,
        data=FollowupCreate(title="Send the brochure", due_at=day(400), contact_id=person.id),
        actor_id=user.id,
    )
    deal_service.create_deal(
        session,
        data=DealCreate(
            title="Shared deal",
            contacts=[
                DealContactIn(contact_id=person.id, role="decision maker"),
                DealContactIn(contact_id=other.id, role="user"),
            ],
        ),
        actor_id=user.id,
    )
    service.record_consent(
        session,
        contact=person,
        data=ConsentChange(purpose="direct_marketing", action="granted", source="form"),
        actor_id=user.id,
        ip="192.0.2.44",
    )
    found = cases.create_request(
        session,
        data=RequestCreate(kind="access", requester_name="Xaver Export", contact_id=person.id),
        actor_id=user.id,
    )
    return found, person, other
