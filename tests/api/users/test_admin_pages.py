"""The admin's user pages and the profile page."""

import re

import pytest

from crm.core import audit
from crm.users import service as user_service
from crm.users.models import Role
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_token, make_user

ADMIN_PAGES = [
    ("get", "/users"),
    ("get", "/users/new"),
    ("post", "/users"),
    ("get", "/users/{id}"),
    ("post", "/users/{id}"),
    ("post", "/users/{id}/password"),
]


@pytest.fixture
def admin(session):
    return make_user(session, roles=(Role.ADMIN,), name="Ada Admin")


@pytest.fixture
def admin_client(client, admin):
    login(client, admin.email)
    return client


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.DPO])
@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_only_admins_reach_user_administration(client, session, role, method, path):
    user = make_user(session, roles=(role,))
    login(client, user.email)
    url = path.format(id=user.id)
    if method == "post":
        response = post_form(
            client, url, {"name": "Hacked", "email": "h@example.com", "roles": "admin"}
        )
    else:
        response = client.get(url)
    assert response.status_code == 403
    session.refresh(user)
    assert user.name != "Hacked" and user.roles == {role}


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_admins_reach_every_user_page(admin_client, session, admin, method, path):
    other = make_user(session)
    url = path.format(id=other.id)
    if method == "post":
        response = post_form(
            admin_client,
            url,
            {"name": "Ok Name", "email": "ok@example.com", "roles": "dpo", "is_active": "true"},
        )
    else:
        response = admin_client.get(url)
    assert response.status_code in (200, 201, 303)


def test_the_user_list_shows_users_and_answers_htmx_with_the_rows(admin_client, session):
    make_user(session, name="Rita Rep", email="rita@example.com")
    page = admin_client.get("/users")
    assert "<html" in page.text and "Rita Rep" in page.text
    rows = admin_client.get("/users", headers={"HX-Request": "true", "HX-Target": "user-rows"})
    assert rows.status_code == 200 and "<html" not in rows.text and "Rita Rep" in rows.text
    assert rows.headers["vary"] == "HX-Request"


def test_creating_a_user_shows_the_generated_password_once(admin_client, session, admin):
    response = post_form(
        admin_client,
        "/users",
        {"email": "New@Example.com", "name": "Nina New", "roles": ["account_manager", "dpo"]},
    )
    assert response.status_code == 201
    password = re.search(r'<code class="secret">([^<]+)</code>', response.text).group(1)
    user = user_service.get_user_by_email(session, email="new@example.com")
    assert user.roles == {Role.ACCOUNT_MANAGER, Role.DPO}
    assert (
        user_service.authenticate(
            session, email=user.email, password=password, ip="1.1.1.1", secret_key="k"
        )
        == user
    )
    assert password not in admin_client.get(f"/users/{user.id}").text
    event = audit.events_for(session, entity_type="user", entity_id=user.id)[0]
    assert (event.action, event.actor_id) == ("user.create", admin.id)


@pytest.mark.parametrize(
    ("form", "field_error"),
    [
        ({"email": "not-an-email", "name": "X", "roles": "dpo"}, "Enter a valid e-mail address."),
        ({"email": "a@example.com", "name": "", "roles": "dpo"}, "Enter at least 1 characters."),
        ({"email": "a@example.com", "name": "X"}, "Choose at least one."),
        ({"email": "a@example.com", "name": "X", "roles": "king"}, "Choose one of the offered"),
        (
            {"email": "a@example.com", "name": "X", "roles": "dpo", "password": "short"},
            "Enter at least 10 characters.",
        ),
    ],
)
def test_invalid_user_forms_come_back_with_the_input_kept(admin_client, session, form, field_error):
    response = post_form(admin_client, "/users", form)
    assert response.status_code == 422
    assert field_error in response.text
    assert f'value="{form["email"]}"' in response.text
    assert user_service.get_user_by_email(session, email=form["email"]) is None


def test_a_duplicate_email_is_refused_on_the_form(admin_client, session):
    make_user(session, email="twice@example.com")
    response = post_form(
        admin_client, "/users", {"email": "Twice@example.com", "name": "Two", "roles": "dpo"}
    )
    assert response.status_code == 409
    assert "already exists" in response.text


def test_editing_and_deactivating_a_user(admin_client, session):
    user = make_user(session, roles=(Role.SALES_REP,))
    response = post_form(
        admin_client,
        f"/users/{user.id}",
        {"email": user.email, "name": "Renamed", "roles": "account_manager"},
    )
    assert response.status_code == 303
    session.refresh(user)
    assert (user.name, user.roles, user.is_active) == ("Renamed", {Role.ACCOUNT_MANAGER}, False)
    assert "Changes saved." in admin_client.get(f"/users/{user.id}").text


def test_an_admin_cannot_remove_the_last_admin(admin_client, session, admin):
    response = post_form(
        admin_client,
        f"/users/{admin.id}",
        {"email": admin.email, "name": admin.name, "roles": "dpo", "is_active": "true"},
    )
    assert response.status_code == 422
    assert "at least one active administrator" in response.text
    session.refresh(admin)
    assert admin.roles == {Role.ADMIN}


def test_resetting_a_password_ends_the_users_sessions(admin_client, app, session):
    from fastapi.testclient import TestClient

    user = make_user(session)
    theirs = TestClient(app, follow_redirects=False)
    login(theirs, user.email)
    response = post_form(admin_client, f"/users/{user.id}/password")
    assert response.status_code == 200
    new_password = re.search(r'<code class="secret">([^<]+)</code>', response.text).group(1)
    assert theirs.get("/").status_code == 303
    login(theirs, user.email, new_password)


def test_malformed_addresses_are_a_422_page(admin_client):
    response = admin_client.get("/users/not-a-number")
    assert response.status_code == 422
    assert "<html" in response.text and "Some of the input is not valid." in response.text


def test_the_profile_offers_the_time_zones(client, session):
    login(client, make_user(session).email)
    page = client.get("/profile").text
    assert 'list="time-zones"' in page and '<option value="Europe/Berlin">' in page


def test_unknown_users_are_a_404_page(admin_client):
    response = admin_client.get("/users/999999")
    assert response.status_code == 404 and "No such user." in response.text


class TestProfile:
    def test_language_preference_switches_the_pages_to_german(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = post_form(
            client, "/profile/preferences", {"language": "de", "time_zone": "Europe/Vienna"}
        )
        assert response.status_code == 303
        page = client.get("/profile", headers={"Accept-Language": "en"})
        assert "Ihr Profil" in page.text and "Einstellungen gespeichert." in page.text
        session.refresh(user)
        assert (user.language, user.time_zone) == ("de", "Europe/Vienna")

    def test_bad_preferences_are_refused(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = post_form(
            client, "/profile/preferences", {"language": "xx", "time_zone": "Nowhere/Land"}
        )
        assert response.status_code == 422
        session.refresh(user)
        assert user.language is None

    def test_wrong_current_password_is_refused(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = post_form(
            client,
            "/profile/password",
            {"current_password": "wrong", "new_password": "long enough pw"},
        )
        assert response.status_code == 422
        assert "The current password is wrong." in response.text
        login(client, user.email, PASSWORD)

    def test_tokens_are_shown_once_and_can_be_revoked(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = post_form(client, "/profile/tokens", {"name": "sync"})
        assert response.status_code == 201
        secret = re.search(r'<code class="secret">(crm_[^<]+)</code>', response.text).group(1)
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 200
        )
        page = client.get("/profile")
        assert secret not in page.text and secret[:10] in page.text
        token_id = re.search(r"/profile/tokens/(\d+)/revoke", page.text).group(1)
        assert post_form(client, f"/profile/tokens/{token_id}/revoke").status_code == 303
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )

    def test_a_token_without_a_name_is_refused(self, client, session):
        user = make_user(session)
        login(client, user.email)
        assert post_form(client, "/profile/tokens", {"name": "  "}).status_code == 422
        assert user_service.list_tokens(session, user=user) == []

    def test_nobody_revokes_another_users_token(self, client, session):
        owner, other = make_user(session), make_user(session)
        make_token(session, owner)
        token = user_service.list_tokens(session, user=owner)[0]
        login(client, other.email)
        assert post_form(client, f"/profile/tokens/{token.id}/revoke").status_code == 404
        session.refresh(token)
        assert token.revoked_at is None
