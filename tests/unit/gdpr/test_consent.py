"""Consent: versioned texts with their hash, the append-only log, the state derived
from it, renewal after a new text, and withdrawal by the contact's own link."""

import hashlib
from datetime import UTC, datetime

import pytest

from crm.core.errors import Conflict, Invalid, NotFound
from crm.gdpr import service
from crm.gdpr.models import ConsentChange, ConsentTextCreate
from tests.factories import make_contact, make_user

SECRET = "s" * 40


def grant(session, contact, purpose="direct_marketing", **fields):
    data = ConsentChange(purpose=purpose, action="granted", source="phone", **fields)
    return service.record_consent(session, contact=contact, data=data, actor_id=None)


def state(session, contact, purpose="direct_marketing"):
    states = service.consents_of(session, contact=contact).states
    return next(s for s in states if s.purpose == purpose)


def test_the_default_register_has_texts_with_their_hash(session):
    purposes = {p.key: p for p in service.list_purposes(session)}
    assert {"customer_relationship", "direct_marketing", "after_sales_surveys"} <= set(purposes)
    assert (
        purposes["direct_marketing"].legal_basis == "a"
        and purposes["direct_marketing"].is_marketing
    )
    texts = service.texts_of(session, purpose=purposes["direct_marketing"])
    assert {t.language for t in texts} == {"en", "de"}
    for text in texts:
        assert text.sha256 == hashlib.sha256(text.body.encode()).hexdigest()


def test_grant_withdraw_and_the_log(session):
    contact = make_contact(session, language="de")
    user = make_user(session)
    assert state(session, contact).granted is False
    data = ConsentChange(purpose="direct_marketing", action="granted", source="form")
    service.record_consent(
        session, contact=contact, data=data, actor_id=user.id, ip="203.0.113.9", user_agent="UA"
    )
    now = state(session, contact)
    assert (now.granted, now.text_version, now.needs_renewal) == (True, 1, False)
    withdrawal = ConsentChange(purpose="direct_marketing", action="withdrawn", source="email")
    service.record_consent(session, contact=contact, data=withdrawal, actor_id=user.id)
    assert state(session, contact).granted is False
    log = service.consents_of(session, contact=contact).log
    assert [e.action for e in log] == ["withdrawn", "granted"]
    granted = log[1]
    assert (granted.ip, granted.user_agent, granted.recorded_by_id) == (
        "203.0.113.9",
        "UA",
        user.id,
    )
    assert granted.text_sha256 is not None and granted.text_version == 1
    with pytest.raises(Conflict):
        service.record_consent(session, contact=contact, data=withdrawal, actor_id=user.id)


def test_a_new_text_asks_for_renewed_consent_in_that_language(session):
    contact = make_contact(session, language="en")
    grant(session, contact)
    purpose = service.purpose_by_key(session, "direct_marketing")
    service.add_consent_text(
        session,
        purpose=purpose,
        data=ConsentTextCreate(language="de", body="Neue Fassung"),
        actor_id=None,
    )
    assert state(session, contact).needs_renewal is False  # the German text changed
    service.add_consent_text(
        session,
        purpose=purpose,
        data=ConsentTextCreate(language="en", body="A new version"),
        actor_id=None,
    )
    renewal = state(session, contact)
    assert (renewal.granted, renewal.text_version, renewal.latest_version) == (True, 1, 2)
    assert renewal.needs_renewal is True
    grant(session, contact)
    assert state(session, contact).needs_renewal is False


def test_consent_needs_a_text_in_the_language_and_a_known_purpose(session):
    contact = make_contact(session)
    with pytest.raises(Invalid) as no_text:
        grant(session, contact, language="fr")
    assert no_text.value.field == "language"
    with pytest.raises(Invalid):
        grant(session, contact, purpose="astrology")
    with pytest.raises(Invalid):
        grant(session, contact, occurred_at=datetime(2099, 1, 1, tzinfo=UTC))


def test_the_contacts_own_link_withdraws_once(session):
    contact = make_contact(session)
    grant(session, contact)
    token = service.withdrawal_token(SECRET, contact_id=contact.id, purpose="direct_marketing")
    event = service.withdraw_by_link(
        session, secret_key=SECRET, token=token, ip="198.51.100.7", user_agent="Mail app"
    )
    assert (event.source, event.ip) == ("link", "198.51.100.7")
    assert state(session, contact).granted is False
    assert (
        service.withdraw_by_link(session, secret_key=SECRET, token=token, ip=None, user_agent=None)
        is None
    )
    with pytest.raises(NotFound):
        service.withdraw_by_link(
            session, secret_key="other" * 10, token=token, ip=None, user_agent=None
        )
