"""The JSON API under /api/v1: bearer tokens, the caller's own data, user administration."""

import pytest

from crm.users import service as user_service
from crm.users.models import Role, UserUpdate
from tests.factories import PASSWORD, make_token, make_user


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin_headers(session):
    return bearer(make_token(session, make_user(session, roles=(Role.ADMIN,))))


class TestTokenAuth:
    def test_without_a_token_the_api_answers_401_in_json(self, client):
        response = client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {
            "detail": "Send an API token as 'Authorization: Bearer <token>'."
        }

    def test_a_session_cookie_does_not_authenticate_the_api(self, client, session):
        from tests.conftest import login

        user = make_user(session)
        login(client, user.email)
        assert client.get("/api/v1/me").status_code == 401

    def test_unknown_revoked_and_deactivated_tokens_are_refused(self, client, session):
        user = make_user(session)
        secret = make_token(session, user)
        assert client.get("/api/v1/me", headers=bearer("crm_nonsense")).status_code == 401
        token = user_service.list_tokens(session, user=user)[0]
        user_service.revoke_token(session, user=user, token_id=token.id)
        session.commit()
        response = client.get("/api/v1/me", headers=bearer(secret))
        assert response.status_code == 401
        assert response.json()["detail"] == "The API token is unknown or revoked."
        other = make_user(session)
        other_secret = make_token(session, other)
        user_service.update_user(
            session, user=other, data=UserUpdate(is_active=False), actor_id=None
        )
        session.commit()
        assert client.get("/api/v1/me", headers=bearer(other_secret)).status_code == 401

    def test_api_errors_follow_the_callers_language(self, client):
        response = client.get("/api/v1/me", headers={"Accept-Language": "de"})
        assert response.json()["detail"].startswith("Senden Sie ein API-Token")

    def test_the_api_needs_no_csrf_token_and_sets_no_cookie(self, client, session):
        headers = bearer(make_token(session, make_user(session)))
        response = client.post("/api/v1/me/tokens", json={"name": "second"}, headers=headers)
        assert response.status_code == 201
        assert "set-cookie" not in response.headers


class TestMe:
    def test_a_read_records_when_the_token_was_last_used(self, client, session):
        user = make_user(session)
        secret = make_token(session, user)
        headers = bearer(secret)
        tokens = client.get("/api/v1/me/tokens", headers=headers).json()
        assert tokens[0]["last_used_at"] is not None

    def test_me_describes_the_caller(self, client, session):
        user = make_user(session, roles=(Role.DPO, Role.SALES_REP), name="Dora")
        body = client.get("/api/v1/me", headers=bearer(make_token(session, user))).json()
        assert body["email"] == user.email and body["name"] == "Dora"
        assert body["roles"] == ["dpo", "sales_rep"]
        assert "password_hash" not in body

    def test_preferences_can_be_changed_and_are_validated(self, client, session):
        headers = bearer(make_token(session, make_user(session)))
        response = client.patch("/api/v1/me", json={"language": "de"}, headers=headers)
        assert response.status_code == 200 and response.json()["language"] == "de"
        response = client.patch("/api/v1/me", json={"time_zone": "Nowhere/Land"}, headers=headers)
        assert response.status_code == 422
        assert client.get("/api/v1/me", headers=headers).json()["time_zone"] is None

    def test_changing_the_password_needs_the_current_one(self, client, session):
        user = make_user(session)
        headers = bearer(make_token(session, user))
        wrong = client.post(
            "/api/v1/me/password",
            headers=headers,
            json={"current_password": "nope", "new_password": "0123456789"},
        )
        assert wrong.status_code == 422
        assert wrong.json() == {
            "detail": "The current password is wrong.",
            "field": "current_password",
        }
        ok = client.post(
            "/api/v1/me/password",
            headers=headers,
            json={"current_password": PASSWORD, "new_password": "0123456789"},
        )
        assert ok.status_code == 204

    def test_tokens_are_listed_without_secrets_and_revoked_by_delete(self, client, session):
        headers = bearer(make_token(session, make_user(session)))
        created = client.post("/api/v1/me/tokens", json={"name": "etl"}, headers=headers).json()
        assert created["token"].startswith("crm_") and created["name"] == "etl"
        listed = client.get("/api/v1/me/tokens", headers=headers).json()
        assert {t["name"] for t in listed} == {"test", "etl"}
        assert all("token" not in t and "token_hash" not in t for t in listed)
        revoked = client.delete(f"/api/v1/me/tokens/{created['id']}", headers=headers)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 401
        assert client.delete("/api/v1/me/tokens/999999", headers=headers).status_code == 404


class TestUserAdministration:
    @pytest.mark.parametrize("role", [Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.DPO])
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("get", "/api/v1/users", None),
            ("post", "/api/v1/users", {"email": "x@example.com", "name": "X", "roles": ["admin"]}),
            ("get", "/api/v1/users/{id}", None),
            ("patch", "/api/v1/users/{id}", {"roles": ["admin"]}),
            ("post", "/api/v1/users/{id}/password", {}),
        ],
    )
    def test_non_admins_get_403_and_change_nothing(self, client, session, role, method, path, body):
        user = make_user(session, roles=(role,))
        headers = bearer(make_token(session, user))
        response = client.request(method, path.format(id=user.id), json=body, headers=headers)
        assert response.status_code == 403
        assert response.json() == {"detail": "You do not have permission to do this."}
        session.refresh(user)
        assert user.roles == {role}
        assert user_service.get_user_by_email(session, email="x@example.com") is None

    def test_admin_creates_lists_reads_and_updates_users(self, client, session, admin_headers):
        response = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={"email": "Bob@Example.com", "name": "Bob", "roles": ["sales_rep"]},
        )
        assert response.status_code == 201
        created = response.json()
        assert created["email"] == "bob@example.com" and len(created["password"]) >= 12
        listed = client.get("/api/v1/users", headers=admin_headers).json()
        assert listed["count"] == len(listed["data"]) == 2
        one = client.get(f"/api/v1/users/{created['id']}", headers=admin_headers).json()
        assert "password" not in one
        patched = client.patch(
            f"/api/v1/users/{created['id']}",
            headers=admin_headers,
            json={"roles": ["account_manager"], "is_active": False},
        ).json()
        assert patched["roles"] == ["account_manager"] and patched["is_active"] is False

    def test_a_given_password_is_not_echoed(self, client, admin_headers):
        response = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={
                "email": "c@example.com",
                "name": "C",
                "roles": ["dpo"],
                "password": "chosen password",
            },
        )
        assert response.status_code == 201 and response.json()["password"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "nope", "name": "X", "roles": ["dpo"]},
            {"email": "a@example.com", "name": "X", "roles": []},
            {"email": "a@example.com", "name": "X", "roles": ["emperor"]},
            {"email": "a@example.com", "name": "", "roles": ["dpo"]},
            {"email": "a@example.com", "name": "X", "roles": ["dpo"], "language": "tlh"},
        ],
    )
    def test_invalid_users_get_422(self, client, session, admin_headers, body):
        response = client.post("/api/v1/users", headers=admin_headers, json=body)
        assert response.status_code == 422
        assert isinstance(response.json()["detail"], list)
        assert user_service.get_user_by_email(session, email="a@example.com") is None

    def test_duplicates_get_409(self, client, session, admin_headers):
        make_user(session, email="dupe@example.com")
        response = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={"email": "DUPE@example.com", "name": "D", "roles": ["dpo"]},
        )
        assert response.status_code == 409

    def test_unknown_users_get_404(self, client, admin_headers):
        assert client.get("/api/v1/users/999999", headers=admin_headers).status_code == 404
        assert (
            client.patch(
                "/api/v1/users/999999", headers=admin_headers, json={"name": "x"}
            ).status_code
            == 404
        )

    def test_password_reset_returns_a_generated_password_once(self, client, session, admin_headers):
        user = make_user(session)
        response = client.post(f"/api/v1/users/{user.id}/password", headers=admin_headers, json={})
        password = response.json()["password"]
        session.expire_all()
        assert (
            user_service.authenticate(
                session, email=user.email, password=password, ip="1.2.3.4", secret_key="k"
            )
            is not None
        )
