"""Retention: who is proposed for erasure (set-based, once), and the DPO's decisions."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from crm.contacts.models import Contact
from crm.deals import service as deal_service
from crm.deals.models import DealContactIn, DealCreate
from crm.gdpr import cases, retention, rights
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentChange, RequestCreate, RetentionProposal
from tests.factories import log_touchpoint, make_contact

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def aged(session, months, **fields):
    contact = make_contact(session, **fields)
    contact.created_at = NOW - timedelta(days=round(months * 30.5))
    session.flush()
    return contact


def consent(session, contact, action, months_ago):
    gdpr_service.record_consent(
        session,
        contact=contact,
        data=ConsentChange(
            purpose="direct_marketing",
            action=action,
            source="phone",
            occurred_at=NOW - timedelta(days=round(months_ago * 30.5)),
        ),
        actor_id=None,
    )


def proposed(session):
    rows = session.exec(select(RetentionProposal.contact_id, RetentionProposal.rule)).all()
    return dict(rows)


def test_who_is_proposed(session):
    quiet_lead = aged(session, 30)
    busy_lead = aged(session, 30)
    log_touchpoint(session, contact_id=busy_lead.id, occurred_at=NOW - timedelta(days=60))
    consenting = aged(session, 30)
    consent(session, consenting, "granted", 28)
    withdrawn = aged(session, 30)
    consent(session, withdrawn, "granted", 29)
    consent(session, withdrawn, "withdrawn", 26)
    restricted = aged(session, 30)
    rights.set_restriction(session, contact=restricted, restricted=True, actor_id=None)
    asking = aged(session, 30)
    cases.create_request(
        session,
        data=RequestCreate(kind="access", requester_name="A", contact_id=asking.id),
        actor_id=None,
    )
    young_customer, old_customer = aged(session, 30), aged(session, 130)
    for customer in (young_customer, old_customer):
        deal = deal_service.create_deal(
            session,
            data=DealCreate(title="Deal", contacts=[DealContactIn(contact_id=customer.id)]),
            actor_id=None,
        )
        deal.stage_since = customer.created_at
        deal_service.win_deal(session, deal=deal, at=customer.created_at, actor_id=None)
    fresh = make_contact(session)

    assert retention.propose(session, now=NOW) == 3
    found = proposed(session)
    assert found == {quiet_lead.id: "lead", withdrawn.id: "lead", old_customer.id: "customer"}
    for kept in (busy_lead, consenting, restricted, asking, young_customer, fresh):
        assert kept.id not in found
    assert retention.propose(session, now=NOW) == 0  # once


def test_the_dpo_erases_or_keeps_in_bulk(session):
    first, second, third = aged(session, 30), aged(session, 30), aged(session, 30)
    retention.propose(session, now=NOW)
    ids = {p.contact_id: p.id for p, _ in retention.proposals(session)}
    erased = retention.approve(session, ids=[ids[first.id], ids[second.id]], actor_id=None)
    assert sorted(e.tombstone.contact_id for e in erased) == sorted([first.id, second.id])
    session.expire_all()
    assert session.get(Contact, first.id) is None
    assert retention.dismiss(session, ids=[ids[third.id]], actor_id=None) == 1
    assert retention.proposals(session) == []
    assert retention.propose(session, now=NOW) == 0  # a dismissed one is not proposed again
