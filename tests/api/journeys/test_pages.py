"""Journey pages: list, settings, board, a subject's journeys, and moves on the timeline."""

import re

import pytest

from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate, JourneyCreate
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import log_touchpoint, make_company, make_contact, make_user


@pytest.fixture
def journey(session):
    journey = journey_service.create_journey(
        session, data=JourneyCreate(name="Pages journey", template="classic"), actor_id=None
    )
    session.commit()
    return journey


@pytest.fixture
def phases(session, journey):
    return {p.key: p for p in journey_service.phases_of(session, journey)}


def enroll(session, journey, phase, **subject):
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, **subject)
    enrollment = journey_service.enroll(session, data=data, actor_id=None)
    session.commit()
    return enrollment


def signed_in(client, session, role=Role.SALES_REP):
    user = make_user(session, roles=(role,))
    login(client, user.email)
    return user


def test_board_shows_columns_counts_and_cards(client, session, journey, phases):
    company = make_company(session, name="Brauhaus Nord")
    anna = make_contact(session, first_name="Anna", last_name="Board", company_id=company.id)
    enroll(session, journey, phases["consideration"], contact_id=anna.id)
    enroll(session, journey, phases["consideration"], company_id=company.id)
    enroll(session, journey, phases["retention"], company_id=make_company(session).id)
    log_touchpoint(session, contact_id=anna.id)
    signed_in(client, session)
    page = client.get(f"/journeys/{journey.id}")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="column"') == 5
    assert re.search(r"Consideration\s*<span class=\"count\"[^>]*>2</span>", html)
    assert "Anna Board" in html and "Brauhaus Nord" in html
    assert html.count("Last touchpoint") == 2 and html.count("No touchpoint yet") == 1
    cards = f"/journeys/{journey.id}/phases/{phases['consideration'].id}/cards"
    more = client.get(cards, headers={"HX-Request": "true"})
    assert more.status_code == 200 and "Anna Board" in more.text and "<html" not in more.text
    # Loaded directly (a new tab), the cards' address shows the board they belong to.
    direct = client.get(cards, params={"segment": "B2B & more", "stale": "true"})
    assert direct.status_code == 303
    assert direct.headers["location"] == f"/journeys/{journey.id}?segment=B2B+%26+more&stale=true"


def test_board_filters_and_stale(client, session, journey, phases):
    from datetime import UTC, datetime, timedelta

    owner = make_user(session)
    mine = make_contact(session, last_name="Meinhard", owner_id=owner.id)
    other = make_contact(session, last_name="Fremdling")
    long_ago = datetime.now(UTC) - timedelta(days=100)
    data = EnrollmentCreate(
        journey_id=journey.id, phase_id=phases["awareness"].id, contact_id=other.id, at=long_ago
    )
    journey_service.enroll(session, data=data, actor_id=None)
    enroll(session, journey, phases["awareness"], contact_id=mine.id)
    signed_in(client, session)
    by_owner = client.get(f"/journeys/{journey.id}?owner={owner.id}").text.split('id="board"')[1]
    assert "Meinhard" in by_owner and "Fremdling" not in by_owner
    stale = client.get(f"/journeys/{journey.id}?stale=true").text.split('id="board"')[1]
    assert "Fremdling" in stale and "Meinhard" not in stale and "stale-tag" in stale


def test_moving_from_the_board_form_and_seeing_it_on_the_timeline(client, session, journey, phases):
    contact = make_contact(session, first_name="Mia", last_name="Move")
    enrollment = enroll(session, journey, phases["awareness"], contact_id=contact.id)
    signed_in(client, session)
    moved = post_form(
        client,
        f"/enrollments/{enrollment.id}/move",
        {
            "to": str(phases["consideration"].id),
            "reason": "Asked for prices",
            "next": f"/journeys/{journey.id}",
        },
        form_page=f"/journeys/{journey.id}",
    )
    assert moved.status_code == 303 and moved.headers["location"] == f"/journeys/{journey.id}"
    timeline = client.get(f"/contacts/{contact.id}").text
    assert "Moved from Awareness to Consideration" in timeline and "Asked for prices" in timeline
    assert "Entered Awareness" in timeline and "Pages journey" in timeline
    refused = post_form(
        client,
        f"/enrollments/{enrollment.id}/move",
        {"to": "exit:lost", "reason": "Gone", "next": f"/contacts/{contact.id}"},
        form_page=f"/contacts/{contact.id}",
    )
    assert refused.status_code == 303
    assert "Give the reason for the exit." in client.get(f"/contacts/{contact.id}").text


def test_enrolling_from_the_contact_page(client, session, journey, phases):
    contact = make_contact(session)
    signed_in(client, session)
    part = client.get(
        f"/contacts/{contact.id}/journeys", headers={"HX-Request": "true", "HX-Target": "journeys"}
    )
    assert part.status_code == 200 and "<html" not in part.text
    assert "Not in any journey." in part.text and "Add to a journey" in part.text
    added = post_form(
        client,
        f"/contacts/{contact.id}/enrollments",
        {"phase_id": str(phases["retention"].id)},
        form_page=f"/contacts/{contact.id}/journeys",
    )
    assert added.status_code == 303
    full = client.get(f"/contacts/{contact.id}/journeys").text
    assert "<html" in full and "Retention" in full and "Pages journey" in full


def test_a_contact_shows_its_companys_journey(client, session, journey, phases):
    company = make_company(session)
    contact = make_contact(session, company_id=company.id)
    enroll(session, journey, phases["advocacy"], company_id=company.id)
    signed_in(client, session)
    page = client.get(f"/contacts/{contact.id}/journeys").text
    assert "Advocacy" in page and "through the company" in page


def test_admins_edit_phases_in_the_settings(client, session, journey, phases):
    signed_in(client, session, Role.ADMIN)
    settings = client.get(f"/journeys/{journey.id}/settings")
    assert settings.status_code == 200 and "Journey map rows" in settings.text
    post_form(
        client,
        f"/journeys/{journey.id}/phases",
        {"name": "Reactivation", "kind": "post_purchase", "target_days": "20"},
        form_page=f"/journeys/{journey.id}/settings",
    )
    post_form(
        client,
        f"/phases/{phases['advocacy'].id}/shift",
        {"by": "-1"},
        form_page=f"/journeys/{journey.id}/settings",
    )
    order = [p.key for p in journey_service.phases_of(session, journey)]
    assert order == [
        "awareness",
        "consideration",
        "conversion",
        "advocacy",
        "retention",
        "reactivation",
    ]


def test_settings_are_for_admins_and_the_board_for_everyone(client, session, journey):
    signed_in(client, session, Role.DPO)
    assert client.get(f"/journeys/{journey.id}").status_code == 200
    assert client.get(f"/journeys/{journey.id}/settings").status_code == 403


def test_a_won_journey_shows_in_the_fragment_of_a_contacts_journeys(
    client, session, journey, phases
):
    # The status label is a macro of the template, outside the block a fragment renders.
    from crm.journeys.models import MoveRequest

    contact = make_contact(session)
    enrollment = enroll(session, journey, phases["consideration"], contact_id=contact.id)
    journey_service.move(
        session,
        enrollment=enrollment,
        data=MoveRequest(exit="lost", exit_reason="competitor"),
        actor_id=None,
    )
    session.commit()
    signed_in(client, session)
    part = client.get(
        f"/contacts/{contact.id}/journeys", headers={"HX-Request": "true", "HX-Target": "journeys"}
    )
    assert part.status_code == 200 and "<html" not in part.text
    assert ">lost</span>" in part.text
    assert "Left the journey: lost" in client.get(f"/contacts/{contact.id}").text
