"""Restriction, objection and the suppression list, and how the follow-up rules honour
them: a restricted contact is read-only and out of automation; an objection stops every
marketing rule at once; rules for a consent purpose reach only those who consented; a
person entered again after an objection or erasure is held back until they consent."""

import pytest
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate, ContactUpdate
from crm.core.errors import Conflict
from crm.followups import evaluation, rules
from crm.followups.models import Followup, RuleCreate
from crm.gdpr import cases, erasure, keys, rights
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentChange, ErasureRequest, RequestCreate, RequestUpdate, Suppression
from crm.journeys import service as journey_service
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from tests.factories import make_contact
from tests.unit.journeys.history import day, live


@pytest.fixture
def retention(session, journey):
    return next(p for p in journey_service.phases_of(session, journey) if p.key == "retention")


def rule_for(session, journey, retention, purpose):
    data = RuleCreate(
        name=f"Rule for {purpose}",
        journey_id=journey.id,
        phase_ids=[retention.id],
        trigger="time_in_phase",
        days=1,
        title_template="Talk to {name}",
        purpose=purpose,
    )
    return rules.create_rule(session, data=data, actor_id=None)


def reached(session, rule):
    query = select(Followup.contact_id).where(Followup.rule_id == rule.id)
    return set(session.exec(query).all())


def test_a_restricted_contact_is_read_only_and_out_of_automation(session, journey, retention):
    kept, restricted = make_contact(session), make_contact(session)
    for contact in (kept, restricted):
        live(session, journey, [(0, "retention")], contact_id=contact.id)
    rights.set_restriction(session, contact=restricted, restricted=True, actor_id=None)
    with pytest.raises(Conflict):
        contact_service.update_contact(
            session, contact=restricted, data=ContactUpdate(notes="x"), actor_id=None
        )
    with pytest.raises(Conflict):
        touchpoint_service.log_touchpoint(
            session, data=TouchpointCreate(contact_id=restricted.id, summary="x"), actor_id=None
        )
    made = rule_for(session, journey, retention, "customer_relationship")
    tally = evaluation.run(session, as_of=day(1))
    assert (tally.created, tally.skipped) == (1, 1)
    assert reached(session, made) == {kept.id}
    rights.set_restriction(session, contact=restricted, restricted=False, actor_id=None)
    assert evaluation.run(session, as_of=day(1)).created == 1


def test_marketing_needs_consent_and_stops_at_an_objection(session, journey, retention):
    agreed, silent = make_contact(session), make_contact(session)
    for contact in (agreed, silent):
        live(session, journey, [(0, "retention")], contact_id=contact.id)
    gdpr_service.record_consent(
        session,
        contact=agreed,
        data=ConsentChange(purpose="direct_marketing", action="granted", source="form"),
        actor_id=None,
    )
    marketing = rule_for(session, journey, retention, "direct_marketing")
    planned = Followup(
        contact_id=agreed.id, title="Offer", due_at=day(5), rule_id=marketing.id, occasion="x"
    )
    session.add(planned)
    session.flush()
    rights.set_objection(session, contact=agreed, objected=True, actor_id=None)
    session.refresh(planned)
    assert planned.status == "cancelled"  # what was planned is called off at once
    assert evaluation.run(session, as_of=day(1)).skipped == 2
    rights.set_objection(session, contact=agreed, objected=False, actor_id=None)
    assert evaluation.run(session, as_of=day(1)).created == 1
    assert reached(session, marketing) == {agreed.id}  # the planned one and a new one


def test_someone_erased_or_objecting_is_held_back_when_entered_again(session):
    erased = make_contact(session, emails=["Sam.Again@example.com"], phones=["+49 30 1234567"])
    found = cases.create_request(
        session,
        data=RequestCreate(kind="erasure", requester_name="Sam", contact_id=erased.id),
        actor_id=None,
    )
    cases.update_request(
        session, found=found, data=RequestUpdate(identity_verified=True), actor_id=None
    )
    erasure.erase_request(session, found=found, data=ErasureRequest(), actor_id=None)
    stored = session.exec(select(Suppression.key_hash)).all()
    assert stored and not any("sam" in k.lower() for k in stored)  # hashes, never addresses
    again = contact_service.create_contact(
        session,
        data=ContactCreate(first_name="Sam", last_name="Again", emails=["SAM.AGAIN@EXAMPLE.COM"]),
        actor_id=None,
    )
    assert again.suppressed_at is not None
    by_phone = contact_service.create_contact(
        session,
        data=ContactCreate(first_name="S", last_name="A", phones=["+49 30 1234567"]),
        actor_id=None,
    )
    assert by_phone.suppressed_at is not None
    stranger = make_contact(session)
    assert stranger.suppressed_at is None
    gdpr_service.record_consent(
        session,
        contact=again,
        data=ConsentChange(purpose="direct_marketing", action="granted", source="phone"),
        actor_id=None,
    )
    assert again.suppressed_at is None
    # the new consent lifted it: the address is no longer on the list
    assert keys.suppressed(session, keys.person_keys(["sam.again@example.com"], [])) == set()
