"""Two people editing the same contact or deal: the later of two edits made to the same
version is refused with 409 and both versions, never silently written over the other."""

import pytest
from sqlalchemy import update
from sqlalchemy.orm.exc import StaleDataError

from crm.contacts import service as contact_service
from crm.contacts.models import Contact, ContactUpdate
from crm.deals import service as deal_service
from crm.deals.models import DealCreate, DealUpdate
from crm.users.models import Role
from tests.api.followups.test_followups import bearer
from tests.conftest import login, post_form
from tests.factories import make_contact, make_user


def test_a_stale_api_edit_is_refused_and_changes_nothing(client, session):
    headers = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    contact = make_contact(session, job_title="Buyer")
    url = f"/api/v1/contacts/{contact.id}"
    seen = client.get(url, headers=headers).json()["version"]
    first = client.patch(
        url, headers=headers, json={"job_title": "Head of buying", "version": seen}
    )
    assert first.status_code == 200 and first.json()["version"] == seen + 1
    second = client.patch(url, headers=headers, json={"job_title": "Intern", "version": seen})
    assert second.status_code == 409
    assert second.json()["current_version"] == seen + 1
    assert client.get(url, headers=headers).json()["job_title"] == "Head of buying"
    unversioned = client.patch(url, headers=headers, json={"notes": "Likes tea"})
    assert unversioned.status_code == 200  # a program that does not say edits the latest


def test_a_stale_deal_edit_is_refused(client, session):
    headers = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    deal = deal_service.create_deal(session, data=DealCreate(title="Licence"), actor_id=None)
    session.commit()
    url = f"/api/v1/deals/{deal.id}"
    seen = client.get(url, headers=headers).json()["version"]
    assert (
        client.patch(url, headers=headers, json={"amount": "10", "version": seen}).status_code
        == 200
    )
    stale = client.patch(url, headers=headers, json={"amount": "99", "version": seen})
    assert stale.status_code == 409
    assert client.get(url, headers=headers).json()["amount"] == "10.00"


def test_the_form_shows_both_versions_and_saving_again_keeps_yours(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    contact = make_contact(session, first_name="Vera", last_name="Version", job_title="Buyer")
    login(client, rep.email)
    edit = f"/contacts/{contact.id}/edit"
    shown = client.get(edit).text
    version = shown.split('name="version" value="')[1].split('"')[0]
    contact_service.update_contact(  # a colleague, meanwhile
        session, contact=contact, data=ContactUpdate(job_title="Head of buying"), actor_id=None
    )
    session.commit()
    form = {"first_name": "Vera", "last_name": "Version", "job_title": "CEO", "version": version}
    refused = post_form(client, f"/contacts/{contact.id}", form, form_page=edit)
    assert refused.status_code == 409
    assert "Both versions" in refused.text
    assert "Head of buying" in refused.text and 'value="CEO"' in refused.text
    newer = refused.text.split('name="version" value="')[1].split('"')[0]
    assert int(newer) == int(version) + 1
    kept = post_form(client, f"/contacts/{contact.id}", {**form, "version": newer}, form_page=edit)
    assert kept.status_code == 303
    session.refresh(contact)
    assert contact.job_title == "CEO"


def test_the_deal_page_shows_both_versions_and_saving_again_keeps_yours(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    deal = deal_service.create_deal(
        session, data=DealCreate(title="Licence", next_step="Call"), actor_id=None
    )
    session.commit()
    login(client, rep.email)
    page = f"/deals/{deal.id}"
    version = client.get(page).text.split('name="version" value="')[1].split('"')[0]
    deal_service.update_deal(  # a colleague, meanwhile
        session, deal=deal, data=DealUpdate(next_step="Send the offer"), actor_id=None
    )
    session.commit()
    form = {"title": "Licence", "amount": "500", "next_step": "Visit", "version": version}
    refused = post_form(client, page, form, form_page=page)
    assert refused.status_code == 409
    assert "Both versions" in refused.text and "Someone else changed" in refused.text
    assert "Send the offer" in refused.text and 'value="Visit"' in refused.text
    assert 'value="500"' in refused.text  # the user's input is kept
    newer = refused.text.split('name="version" value="')[1].split('"')[0]
    assert int(newer) == int(version) + 1
    assert post_form(client, page, {**form, "version": newer}, form_page=page).status_code == 303
    session.refresh(deal)
    assert (deal.next_step, deal.amount) == ("Visit", 500)


def test_two_writers_at_the_same_moment_cannot_both_win(session):
    contact = make_contact(session)
    # another transaction's edit lands between this one's read and its write
    session.execute(
        update(Contact.__table__)
        .where(Contact.__table__.c.id == contact.id)
        .values(version=Contact.__table__.c.version + 1)
    )
    contact.job_title = "Mine"
    with pytest.raises(StaleDataError):
        session.flush()


def test_the_loser_of_a_simultaneous_edit_gets_409(client, session, monkeypatch):
    headers = bearer(session, make_user(session, roles=(Role.SALES_REP,)))
    contact = make_contact(session)

    def lost(*args, **kwargs):
        raise StaleDataError("the row's version moved on")

    monkeypatch.setattr(contact_service, "update_contact", lost)
    answer = client.patch(f"/api/v1/contacts/{contact.id}", headers=headers, json={"notes": "x"})
    assert answer.status_code == 409 and "at the same moment" in answer.json()["detail"]
