"""Deal pages: the list with its new-deal form, the board, a deal's page and its forms."""

import re

import pytest

from crm.deals import service as deal_service
from crm.deals.models import DealCreate, PipelineCreate
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_user


@pytest.fixture
def pipeline(session):
    return deal_service.list_pipelines(session)[0]


@pytest.fixture
def stages(session, pipeline):
    return {s.key: s for s in deal_service.stages_of(session, pipeline)}


def make_deal(session, **fields):
    deal = deal_service.create_deal(
        session, data=DealCreate(**{"title": "Deal", **fields}), actor_id=None
    )
    session.commit()
    return deal


def signed_in(client, session, role=Role.SALES_REP):
    user = make_user(session, roles=(role,))
    login(client, user.email)
    return user


def test_new_deal_from_the_list(client, session, pipeline):
    signed_in(client, session)
    page = client.get("/deals")
    assert page.status_code == 200 and "<html" in page.text and "New deal" in page.text
    created = post_form(
        client,
        "/deals",
        {
            "title": "Kegs for the fair",
            "pipeline_id": str(pipeline.id),
            "amount": "1200.50",
            "currency": "EUR",
        },
    )
    assert created.status_code == 303
    deal_page = client.get(created.headers["location"])
    assert "Kegs for the fair" in deal_page.text and "1,200.50" in deal_page.text
    refused = post_form(client, "/deals", {"title": "Bad", "amount": "-3"})
    assert refused.status_code == 303 and refused.headers["location"] == "/deals"
    assert "Nothing was changed" in client.get("/deals").text
    listed = client.get("/deals").text
    assert "Kegs for the fair" in listed and "Bad" not in re.sub(
        r"<option[^>]*>[^<]*</option>", "", listed
    )


def test_board_shows_stages_counts_sums_and_cards(client, session, pipeline, stages):
    company = make_company(session, name="Brauhaus Nord")
    make_deal(session, amount="100", company_id=company.id)
    make_deal(session, amount="50.25")
    make_deal(session, amount="7", currency="USD", stage_id=stages["proposal"].id)
    signed_in(client, session)
    page = client.get(f"/pipelines/{pipeline.id}")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="column"') == 6
    assert re.search(r"Qualified\s*<span class=\"count\"[^>]*>2</span>", html)
    assert "€150.25" in html and "$7.00" in html
    assert "Brauhaus Nord" in html and html.count('data-move-url="/deals/') == 3
    cards = f"/pipelines/{pipeline.id}/stages/{stages['qualified'].id}/cards"
    more = client.get(cards, headers={"HX-Request": "true"})
    assert more.status_code == 200 and more.text.count("board-card") == 2
    # Loaded directly (a new tab), the cards' address shows the board they belong to.
    direct = client.get(cards, params={"owner": "7", "stale": "true"})
    assert direct.status_code == 303
    assert direct.headers["location"] == f"/pipelines/{pipeline.id}?owner=7&stale=true"
    other = deal_service.create_pipeline(session, data=PipelineCreate(name="Other"), actor_id=None)
    session.commit()
    assert (
        client.get(f"/pipelines/{other.id}/stages/{stages['qualified'].id}/cards").status_code
        == 404
    )


def test_move_lose_and_reopen_from_the_deal_page(client, session, stages):
    deal = make_deal(session)
    signed_in(client, session)
    url = f"/deals/{deal.id}"
    moved = post_form(client, f"{url}/move", {"to": str(stages["proposal"].id)}, form_page=url)
    assert moved.status_code == 303
    page = client.get(url).text
    assert "Stage history" in page and page.count('<tr><th scope="row">') == 2
    no_reason = post_form(client, f"{url}/move", {"to": str(stages["lost"].id)}, form_page=url)
    assert no_reason.status_code == 303
    assert "Give the reason the deal was lost." in client.get(url).text
    session.expire_all()
    assert deal_service.get_deal(session, deal_id=deal.id).status == "open"
    post_form(
        client, f"{url}/move", {"to": str(stages["lost"].id), "lost_reason": "price"}, form_page=url
    )
    assert "Reopen" in client.get(url).text
    post_form(client, f"{url}/reopen", form_page=url)
    session.expire_all()
    reopened = deal_service.get_deal(session, deal_id=deal.id)
    assert (reopened.status, reopened.stage_id) == ("open", stages["proposal"].id)


def test_edit_a_deal(client, session):
    deal = make_deal(session, amount="10")
    signed_in(client, session)
    url = f"/deals/{deal.id}"
    post_form(
        client,
        url,
        {
            "title": "Bigger deal",
            "amount": "2500",
            "currency": "EUR",
            "probability": "40",
            "next_step": "Send offer",
            "renewal_date": "2027-06-30",
        },
        form_page=url,
    )
    page = client.get(url).text
    assert "Bigger deal" in page and "€2,500.00" in page and "40 %" in page and "Send offer" in page
    assert "Jun 30, 2027" in page


def test_readers_see_but_do_not_change(client, session):
    deal = make_deal(session)
    signed_in(client, session, Role.DPO)
    page = client.get(f"/deals/{deal.id}")
    assert page.status_code == 200 and "Move" not in page.text.split("Stage history")[0]
    assert (
        post_form(client, f"/deals/{deal.id}/reopen", form_page=f"/deals/{deal.id}").status_code
        == 403
    )


def test_company_and_contact_pages_show_their_deals(client, session):
    company = make_company(session, name="Brauhaus Nord")
    contact = make_contact(session, company_id=company.id)
    won = make_deal(
        session,
        title="First order",
        amount="900",
        company_id=company.id,
        contacts=[{"contact_id": contact.id}],
    )
    deal_service.win_deal(session, deal=won, actor_id=None)
    session.commit()
    signed_in(client, session)
    page = client.get(f"/companies/{company.id}")
    assert f'hx-get="/companies/{company.id}/deals"' in page.text
    card = client.get(
        f"/companies/{company.id}/deals", headers={"HX-Request": "true", "HX-Target": "deals"}
    )
    assert "<html" not in card.text and "First order" in card.text
    assert "€900.00" in card.text and '<span class="tag">A</span>' in card.text
    assert "First order" in client.get(f"/contacts/{contact.id}/deals").text
    created = post_form(
        client,
        "/deals",
        {
            "title": "From the contact",
            "contact_id": str(contact.id),
            "next": f"/contacts/{contact.id}",
        },
        form_page=f"/contacts/{contact.id}",
    )
    assert created.status_code == 303
    assert "From the contact" in client.get(f"/contacts/{contact.id}/deals").text


def test_figures_page(client, session, stages):
    make_deal(session, amount="1000", expected_close_date="2027-04-01")
    lost = make_deal(session, amount="10")
    deal_service.lose_deal(session, deal=lost, reason="timing", actor_id=None)
    session.commit()
    signed_in(client, session)
    page = client.get("/deals/figures")
    assert page.status_code == 200 and '<svg class="chart"' in page.text
    assert "EUR: 2027-04: 1000.00, 100.00;" in page.text
    assert "Amount (EUR)" in page.text and "Month of expected close" in page.text
    assert "<title>2027-04: Amount €1,000.00, Weighted €100.00</title>" in page.text
    assert "Bad timing: 1" in page.text and "0 of 1 closed deals won" in page.text
    assert client.get("/deals/figures?from=someday").status_code == 422
    assert 'href="/deals/figures"' in client.get("/deals").text


def test_admins_edit_pipelines_and_stages(client, session):
    signed_in(client, session, Role.ADMIN)
    assert client.get("/pipelines").status_code == 200
    created = post_form(client, "/pipelines", {"name": "Renewals"}, form_page="/pipelines")
    settings = created.headers["location"]
    assert re.fullmatch(r"/pipelines/\d+/settings", settings)
    pipeline_id = int(settings.split("/")[2])
    post_form(
        client,
        f"/pipelines/{pipeline_id}/stages",
        {"name": "Contract sent", "kind": "open", "probability": "70", "target_days": "10"},
        form_page=settings,
    )
    pipeline = deal_service.get_pipeline(session, pipeline_id=pipeline_id)
    stages = deal_service.stages_of(session, pipeline)
    added = stages[-1]
    assert (added.name, added.probability, added.target_days) == ("Contract sent", 70, 10)
    post_form(client, f"/stages/{added.id}/shift", {"by": "-1"}, form_page=settings)
    session.expire_all()
    assert [s.id for s in deal_service.stages_of(session, pipeline)][-2] == added.id
    bad = post_form(
        client,
        f"/stages/{added.id}",
        {"name": "Contract sent", "probability": "150"},
        form_page=settings,
    )
    assert bad.status_code == 303 and "Nothing was changed" in client.get(settings).text
    post_form(
        client,
        f"/pipelines/{pipeline_id}/settings",
        {"name": "Contract renewals", "journey_id": "", "description": "Yearly contracts"},
        form_page=settings,
    )
    session.expire_all()
    renamed = deal_service.get_pipeline(session, pipeline_id=pipeline_id)
    assert (renamed.name, renamed.journey_id, renamed.move_on_won, renamed.description) == (
        "Contract renewals",
        None,
        False,
        "Yearly contracts",
    )
    assert "Yearly contracts" in client.get("/pipelines").text


def test_only_admins_edit_pipelines(client, session, pipeline):
    signed_in(client, session)
    assert client.get("/pipelines").status_code == 403
    assert client.get(f"/pipelines/{pipeline.id}/settings").status_code == 403
    assert post_form(client, "/pipelines", {"name": "Mine"}, form_page="/deals").status_code == 403


def test_stage_changes_on_the_company_and_contact_timelines(client, session, stages):
    company = make_company(session)
    contact = make_contact(session, company_id=company.id)
    deal = make_deal(
        session, title="Timeline deal", company_id=company.id, contacts=[{"contact_id": contact.id}]
    )
    deal_service.move_deal(session, deal=deal, stage_id=stages["proposal"].id, actor_id=None)
    deal_service.win_deal(session, deal=deal, actor_id=None)
    session.commit()
    signed_in(client, session)
    for url in (f"/companies/{company.id}", f"/contacts/{contact.id}"):
        timeline = client.get(url).text.split('id="timeline"')[1]
        assert timeline.count("Timeline deal") == 3, url
        assert "Qualified → Proposal" in timeline and "Proposal → Won" in timeline
        assert ">new deal</span>" in timeline


def test_contacts_roles_and_owner_from_the_deal_page(client, session):
    deal = make_deal(session)
    anna = make_contact(session, first_name="Anna", last_name="Buyer")
    boss = make_user(session, roles=(Role.SALES_REP,), name="Bea Boss")
    signed_in(client, session)
    url = f"/deals/{deal.id}"
    post_form(
        client,
        f"{url}/contacts",
        {"contact_id": str(anna.id), "role": "Decision maker"},
        form_page=url,
    )
    assert "Anna Buyer</a> (Decision maker)" in client.get(url).text
    missing = post_form(client, f"{url}/contacts", {"contact_id": "999999"}, form_page=url)
    assert missing.status_code == 303 and "Nothing was changed" in client.get(url).text
    post_form(
        client,
        url,
        {"title": "Deal", "amount": "0", "currency": "EUR", "owner_id": str(boss.id)},
        form_page=url,
    )
    post_form(client, f"{url}/contacts/{anna.id}/remove", form_page=url)
    session.expire_all()
    changed = deal_service.get_deal(session, deal_id=deal.id)
    assert changed.owner_id == boss.id and deal_service.contacts_of(session, changed) == []
