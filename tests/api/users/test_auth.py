"""Login, logout, sessions, CSRF and throttling through the HTML routes."""

from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from crm.users import service as user_service
from crm.users.models import LoginAttempt, User, UserUpdate
from tests.conftest import csrf_token, login, post_form
from tests.factories import PASSWORD, make_user


def _session_cookie(response) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


class TestLoginPage:
    def test_anonymous_visitors_are_sent_to_the_login_page(self, client):
        response = client.get("/users?x=1")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fusers%3Fx%3D1"

    def test_htmx_requests_get_a_client_side_redirect(self, client):
        response = client.get("/", headers={"HX-Request": "true"})
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/login?next=%2F"

    def test_the_login_page_is_a_full_page_with_a_form(self, client):
        response = client.get("/login")
        assert response.status_code == 200
        assert "<html" in response.text and 'name="password"' in response.text
        assert response.headers["vary"] == "HX-Request"


class TestLogin:
    def test_right_credentials_sign_in_with_a_hardened_cookie(self, client, session):
        user = make_user(session)
        token = csrf_token(client)
        response = client.post(
            "/login",
            data={
                "email": user.email,
                "password": PASSWORD,
                "csrf_token": token,
                "next": "/profile",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/profile"
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
        assert client.get("/profile").status_code == 200

    def test_the_session_is_renewed_at_login(self, client, session):
        user = make_user(session)
        before = csrf_token(client)
        old_cookie = client.cookies.get("crm_session")
        login(client, user.email)
        assert client.cookies.get("crm_session") != old_cookie
        assert csrf_token(client, "/") != before

    def test_cookies_are_secure_over_https(self, app, session):
        user = make_user(session)
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        token = csrf_token(client)
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert "Secure" in response.headers["set-cookie"]

    def test_wrong_password_and_unknown_email_get_the_same_answer(self, client, session):
        user = make_user(session)
        answers = []
        for email, password in ((user.email, "wrong password"), ("ghost@example.com", PASSWORD)):
            response = post_form(
                client, "/login", {"email": email, "password": password}, form_page="/login"
            )
            answers.append((response.status_code, "Wrong e-mail or password." in response.text))
            assert f'value="{email}"' in response.text  # the typed e-mail is kept
        assert answers == [(401, True), (401, True)]
        assert "uid" not in str(client.cookies.get("crm_session"))

    def test_a_deactivated_user_cannot_log_in(self, client, session):
        user = make_user(session)
        user_service.update_user(
            session, user=user, data=UserUpdate(is_active=False), actor_id=None
        )
        session.commit()
        response = post_form(
            client, "/login", {"email": user.email, "password": PASSWORD}, form_page="/login"
        )
        assert response.status_code == 401

    @pytest.mark.parametrize(
        "target",
        [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil.example",
        ],
    )
    def test_next_only_leads_to_local_paths(self, client, session, target):
        user = make_user(session)
        response = post_form(
            client,
            "/login",
            {"email": user.email, "password": PASSWORD, "next": target},
            form_page="/login",
        )
        assert response.headers["location"] == "/"

    def test_the_login_page_says_it_in_the_browsers_language(self, client):
        response = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert "Anmelden" in response.text and '<html lang="de-DE">' in response.text


class TestThrottling:
    def test_five_failures_lock_the_email_with_429(self, client, session):
        user = make_user(session)
        for _ in range(5):
            response = post_form(
                client, "/login", {"email": user.email, "password": "nope"}, form_page="/login"
            )
            assert response.status_code == 401
        response = post_form(
            client, "/login", {"email": user.email, "password": PASSWORD}, form_page="/login"
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 14 * 60
        assert "Too many failed logins" in response.text
        assert "uid" not in str(client.cookies.get("crm_session"))

    def test_failures_are_kept_in_the_database(self, client, session):
        post_form(
            client, "/login", {"email": "who@example.com", "password": "x"}, form_page="/login"
        )
        assert len(session.exec(select(LoginAttempt)).all()) == 1


class TestLogout:
    def test_logout_ends_the_session_and_old_cookies_stop_working(self, client, session):
        user = make_user(session)
        login(client, user.email)
        stolen = client.cookies.get("crm_session")
        response = post_form(client, "/logout")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert "You have been logged out." in client.get("/login").text
        client.cookies.set("crm_session", stolen)
        response = client.get("/")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")

    def test_the_login_page_after_logout_keeps_the_users_language(self, client, session):
        user = make_user(session, language="de")
        login(client, user.email)
        post_form(client, "/logout")
        page = client.get("/login", headers={"Accept-Language": "en"})
        assert "Sie wurden abgemeldet." in page.text and '<html lang="de">' in page.text

    def test_a_password_change_signs_out_other_sessions_but_not_this_one(self, app, session):
        user = make_user(session)
        phone, laptop = (
            TestClient(app, follow_redirects=False),
            TestClient(app, follow_redirects=False),
        )
        login(phone, user.email)
        login(laptop, user.email)
        response = post_form(
            laptop,
            "/profile/password",
            {"current_password": PASSWORD, "new_password": "brand new secret"},
        )
        assert response.status_code == 303
        assert laptop.get("/profile").status_code == 200
        assert phone.get("/profile").status_code == 303

    def test_a_deactivated_users_session_ends_at_once(self, client, session):
        user = make_user(session)
        login(client, user.email)
        fresh = session.get(User, user.id)
        user_service.update_user(
            session, user=fresh, data=UserUpdate(is_active=False), actor_id=None
        )
        session.commit()
        assert client.get("/").status_code == 303

    def test_an_expired_session_sends_the_user_to_log_in_again(
        self, client, session, settings, monkeypatch
    ):
        import time

        from itsdangerous import timed

        user = make_user(session)
        login(client, user.email)
        later = time.time() + settings.session_max_age_days * 86400 + 60
        monkeypatch.setattr(timed.time, "time", lambda: later)
        response = client.get("/profile")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")

    def test_an_expired_or_forged_cookie_is_ignored(self, client):
        client.cookies.set("crm_session", "eyJ1aWQiOjEsInZlciI6MX0.forged.signature")
        response = client.get("/")
        assert response.status_code == 303


class TestCSRF:
    def test_a_form_without_the_token_is_refused_and_nothing_is_written(self, client, session):
        admin = make_user(session, roles=("admin",))
        login(client, admin.email)
        response = client.post(
            "/users", data={"email": "new@example.com", "name": "New", "roles": "dpo"}
        )
        assert response.status_code == 403
        assert "did not come from this site" in response.text
        assert user_service.get_user_by_email(session, email="new@example.com") is None

    def test_a_wrong_token_is_refused(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = client.post("/logout", data={"csrf_token": "not-the-token"})
        assert response.status_code == 403
        assert client.get("/").status_code == 200  # still signed in

    def test_the_token_may_come_as_a_header_for_htmx(self, client, session):
        user = make_user(session)
        login(client, user.email)
        token = csrf_token(client, "/")
        response = client.post("/logout", headers={"X-CSRF-Token": token, "HX-Request": "true"})
        assert response.status_code == 303

    def test_a_refusal_to_htmx_lands_in_the_message_area(self, client, session):
        user = make_user(session)
        login(client, user.email)
        response = client.post("/logout", headers={"X-CSRF-Token": "bad", "HX-Request": "true"})
        assert response.status_code == 403
        assert response.headers["HX-Retarget"] == "#messages"
        assert "<html" not in response.text and "did not come from this site" in response.text

    def test_the_login_form_needs_the_token_too(self, client, session):
        user = make_user(session)
        client.get("/login")
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 403
