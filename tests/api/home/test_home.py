"""The home per role, the search and the help page, as pages and through the API."""

import re
from datetime import timedelta

import pytest

from crm.core.db import utcnow
from crm.deals import service as deal_service
from crm.deals.models import DealCreate
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import make_company, make_contact, make_token, make_user


def bearer(session, *roles):
    user = make_user(session, roles=roles)
    return user, {"Authorization": f"Bearer {make_token(session, user)}"}


class TestHomeApi:
    @pytest.mark.parametrize(
        ("roles", "sections"),
        [
            ((Role.SALES_REP,), ["sales"]),
            ((Role.ACCOUNT_MANAGER,), ["account"]),
            ((Role.DPO,), ["privacy"]),
            ((Role.ADMIN, Role.SALES_REP), ["sales", "admin"]),
        ],
    )
    def test_sections_follow_the_roles(self, client, session, roles, sections):
        _, headers = bearer(session, *roles)
        found = client.get("/api/v1/home", headers=headers).json()
        assert found["sections"] == sections
        for key in ("sales", "account", "privacy", "admin"):
            assert (found[key] is not None) == (key in sections)
        assert (found["checklist"] is not None) == ("admin" in sections)

    def test_a_reps_follow_ups_and_deals(self, client, session):
        rep, headers = bearer(session, Role.SALES_REP)
        contact = make_contact(session, first_name="Ada", last_name="Lovelace")
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Send the offer",
                due_at=utcnow() - timedelta(days=1),
                assignee_id=rep.id,
                contact_id=contact.id,
            ),
            actor_id=None,
        )
        deal_service.create_deal(
            session, data=DealCreate(title="Big one", owner_id=rep.id), actor_id=None
        )
        session.commit()
        sales = client.get("/api/v1/home", headers=headers).json()["sales"]
        assert [(f["title"], f["subject"]["name"]) for f in sales["overdue"]] == [
            ("Send the offer", "Ada Lovelace")
        ]
        assert [d["title"] for stage in sales["open_deals"] for d in stage["deals"]] == ["Big one"]

    def test_the_checklist_is_put_away_by_admins_only(self, client, session):
        _, admin = bearer(session, Role.ADMIN)
        _, rep = bearer(session, Role.SALES_REP)
        assert client.post("/api/v1/home/checklist/dismiss", headers=rep).status_code == 403
        assert client.post("/api/v1/home/checklist/dismiss", headers=admin).status_code == 204
        assert client.get("/api/v1/home", headers=admin).json()["checklist"] is None

    def test_anonymous_gets_401(self, client):
        assert client.get("/api/v1/home").status_code == 401


class TestHomePage:
    def test_a_rep_sees_their_work_and_not_the_dpos(self, client, session):
        rep = make_user(session, roles=(Role.SALES_REP,))
        contact = make_contact(session, first_name="Grace", last_name="Hopper")
        followup_service.create_followup(
            session,
            data=FollowupCreate(
                title="Ask about the pilot",
                due_at=utcnow() - timedelta(hours=2),
                assignee_id=rep.id,
                contact_id=contact.id,
            ),
            actor_id=None,
        )
        session.commit()
        login(client, rep.email)
        page = client.get("/").text
        assert 'id="sales-title"' in page and 'id="privacy-title"' not in page
        assert "Ask about the pilot" in page and f'href="/contacts/{contact.id}"' in page
        assert 'id="quick-find"' in page
        assert 'id="checklist-title"' not in page

    def test_a_dpo_sees_requests_and_the_register(self, client, session):
        login(client, make_user(session, roles=(Role.DPO,)).email)
        page = client.get("/").text
        assert 'id="privacy-title"' in page and 'href="/privacy/register"' in page
        assert 'id="sales-title"' not in page

    def test_an_admin_puts_the_checklist_away(self, client, session):
        login(client, make_user(session, roles=(Role.ADMIN,)).email)
        page = client.get("/").text
        assert 'id="checklist-title"' in page and 'href="/imports?kind=contacts"' in page
        response = post_form(client, "/home/checklist/dismiss")
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert 'id="checklist-title"' not in client.get("/").text

    def test_a_rep_may_not_put_the_checklist_away(self, client, session):
        login(client, make_user(session, roles=(Role.SALES_REP,)).email)
        assert post_form(client, "/home/checklist/dismiss").status_code == 403

    def test_anonymous_is_sent_to_log_in(self, client):
        response = client.get("/")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


class TestSearch:
    @pytest.fixture
    def found(self, session):
        company = make_company(session, name="Sonnenschein GmbH")
        contact = make_contact(session, first_name="Anna", last_name="Sonne", company_id=company.id)
        deal = deal_service.create_deal(session, data=DealCreate(title="Sonnendeck"), actor_id=None)
        session.commit()
        return contact, company, deal

    def test_the_api_groups_the_results(self, client, session, found):
        contact, company, deal = found
        _, headers = bearer(session, Role.DPO)
        result = client.get("/api/v1/search", params={"q": "sonne"}, headers=headers).json()
        assert [h["id"] for h in result["contacts"]] == [contact.id]
        assert [h["id"] for h in result["companies"]] == [company.id]
        assert [h["url"] for h in result["deals"]] == [f"/deals/{deal.id}"]

    def test_the_api_refuses_a_missing_or_huge_query(self, client, session):
        _, headers = bearer(session, Role.SALES_REP)
        assert client.get("/api/v1/search", headers=headers).status_code == 422
        huge = {"q": "x" * 201}
        assert client.get("/api/v1/search", params=huge, headers=headers).status_code == 422

    def test_the_page_and_its_as_you_type_fragment(self, client, session, found):
        contact, _, _ = found
        login(client, make_user(session).email)
        page = client.get("/search", params={"q": "sonne"})
        assert page.status_code == 200 and "<html" in page.text
        assert f'href="/contacts/{contact.id}"' in page.text
        typed = client.get(
            "/search",
            params={"q": "sonne"},
            headers={"HX-Request": "true", "HX-Target": "search-results"},
        )
        assert "<html" not in typed.text and "Sonnenschein GmbH" in typed.text
        assert typed.headers["vary"] == "HX-Request"
        assert "at least two" in client.get("/search", params={"q": "s"}).text

    def test_finding_the_person_to_log_for_opens_the_quick_log(self, client, session, found):
        contact, _, _ = found
        login(client, make_user(session).email)
        typed = client.get(
            "/search",
            params={"q": "sonne", "for": "log"},
            headers={"HX-Request": "true", "HX-Target": "quick-find-results"},
        )
        assert f'href="/contacts/{contact.id}#quick-log"' in typed.text
        assert "/deals/" not in typed.text  # only people have a quick log to open
        assert client.get("/search", params={"q": "x", "for": "else"}).status_code == 422


class TestShortcuts:
    def test_the_help_page_lists_them_and_every_page_loads_them(self, client, session):
        login(client, make_user(session).email)
        help_page = client.get("/help").text
        assert "<title>Help · CRM</title>" in help_page
        for key in ("/", "n", "l", "?"):
            assert f"<kbd>{key}</kbd>" in help_page
        assert '<script src="/static/js/shortcuts.js" defer></script>' in help_page
        assert 'data-shortcut="n"' in client.get("/contacts").text
        contact = make_contact(session)
        assert 'data-shortcut="l"' in client.get(f"/contacts/{contact.id}").text
        assert client.get("/static/js/shortcuts.js").status_code == 200


class TestGuide:
    @pytest.mark.parametrize(("language", "heading"), [("en", "A sales rep"), ("de", "Vertrieb")])
    def test_the_guide_and_its_pictures(self, client, session, language, heading):
        login(client, make_user(session).email)
        assert f'href="/help/guide/{language}"' in client.get("/help").text
        page = client.get(f"/help/guide/{language}")
        assert page.status_code == 200 and heading in page.text
        pictures = re.findall(r'<img src="([^"]+)"', page.text)
        assert len(pictures) >= 8
        for picture in pictures:
            image = client.get(f"/help/guide/{picture}")
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"

    def test_no_guide_in_other_languages(self, client, session):
        login(client, make_user(session).email)
        assert client.get("/help/guide/fr").status_code == 404


def test_the_german_menu_has_no_english_left(client, session):
    import re

    from crm.users.models import Role
    from tests.conftest import login
    from tests.factories import make_user

    def menu(language: str) -> list[str]:
        login(client, make_user(session, roles=tuple(Role), language=language).email)
        page = client.get("/").text
        nav = page[page.index("<nav ") : page.index("</nav>")]
        return re.findall(r">([^<>]+)</a>", nav)

    english, german = menu("en"), menu("de")
    assert "Journeys" in english and len(english) == len(german)
    assert {"Kundenreisen", "Verkaufschancen", "Importieren"} <= set(german)
    assert set(german) & set(english) == set()
