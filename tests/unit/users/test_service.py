from datetime import timedelta

import pytest
from sqlmodel import select

from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import Conflict, Invalid, NotAuthenticated, NotFound, TooManyRequests
from crm.users import jobs as user_jobs
from crm.users import service
from crm.users.models import LoginAttempt, Role, UserCreate, UserUpdate
from tests.factories import PASSWORD, make_user

SECRET = "unit-test-secret"


def _login(session, email, password=PASSWORD, ip="10.0.0.1"):
    return service.authenticate(session, email=email, password=password, ip=ip, secret_key=SECRET)


class TestCreateUser:
    def test_normalises_the_email_and_hashes_the_password(self, session):
        user = service.create_user(
            session,
            data=UserCreate(
                email=" Ann.Smith@Example.COM ", name=" Ann ", roles={Role.DPO, Role.SALES_REP}
            ),
            password=PASSWORD,
            actor_id=None,
        )
        assert (user.email, user.name) == ("ann.smith@example.com", "Ann")
        assert user.roles == {Role.DPO, Role.SALES_REP}
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash

    def test_refuses_a_second_user_with_the_same_email_in_any_case(self, session):
        make_user(session, email="dup@example.com")
        with pytest.raises(Conflict):
            service.create_user(
                session,
                data=UserCreate(email="DUP@example.com", name="X", roles={Role.DPO}),
                password=PASSWORD,
                actor_id=None,
            )

    def test_is_audited_without_values(self, session):
        admin = make_user(session, roles=(Role.ADMIN,))
        user = make_user(session)
        service.update_user(session, user=user, data=UserUpdate(name="Renamed"), actor_id=admin.id)
        event = audit.events_for(session, entity_type="user", entity_id=user.id)[0]
        assert (event.action, event.actor_id, event.fields) == ("user.update", admin.id, ["name"])


class TestUpdateUser:
    def test_changes_roles_and_records_only_what_changed(self, session):
        user = make_user(session, roles=(Role.SALES_REP,))
        service.update_user(
            session,
            user=user,
            data=UserUpdate(roles={Role.ACCOUNT_MANAGER}, name=user.name),
            actor_id=None,
        )
        assert user.roles == {Role.ACCOUNT_MANAGER}
        event = audit.events_for(session, entity_type="user", entity_id=user.id)[0]
        assert event.fields == ["roles"]

    def test_deactivation_ends_the_users_sessions(self, session):
        user = make_user(session)
        version = user.session_version
        service.update_user(session, user=user, data=UserUpdate(is_active=False), actor_id=None)
        assert service.user_for_session(session, user_id=user.id, version=version) is None

    def test_refuses_to_take_away_the_last_active_admin(self, session):
        for admin in service.list_users(session):
            if admin.has_role(Role.ADMIN):
                service.update_user(
                    session, user=admin, data=UserUpdate(is_active=False), actor_id=None
                )
        only_admin = make_user(session, roles=(Role.ADMIN,))
        with pytest.raises(Conflict):
            service.update_user(
                session, user=only_admin, data=UserUpdate(is_active=False), actor_id=None
            )
        with pytest.raises(Conflict):
            service.update_user(
                session, user=only_admin, data=UserUpdate(roles={Role.DPO}), actor_id=None
            )
        assert only_admin.is_active and only_admin.roles == {Role.ADMIN}
        make_user(session, roles=(Role.ADMIN,))
        service.update_user(
            session, user=only_admin, data=UserUpdate(is_active=False), actor_id=None
        )
        assert not only_admin.is_active

    def test_refuses_an_email_that_another_user_has(self, session):
        make_user(session, email="taken@example.com")
        user = make_user(session)
        with pytest.raises(Conflict):
            service.update_user(
                session, user=user, data=UserUpdate(email="Taken@example.com"), actor_id=None
            )


class TestPasswords:
    def test_set_password_ends_older_sessions(self, session):
        user = make_user(session)
        old = user.session_version
        service.set_password(session, user=user, password="another password", actor_id=None)
        assert service.user_for_session(session, user_id=user.id, version=old) is None
        assert service.user_for_session(session, user_id=user.id, version=user.session_version)
        assert _login(session, user.email, "another password") == user

    def test_change_own_password_needs_the_current_one(self, session):
        user = make_user(session)
        with pytest.raises(Invalid) as error:
            service.change_own_password(
                session, user=user, current_password="wrong", new_password="a new password"
            )
        assert error.value.field == "current_password"
        service.change_own_password(
            session, user=user, current_password=PASSWORD, new_password="a new password"
        )
        assert _login(session, user.email, "a new password") == user


class TestAuthenticate:
    def test_returns_the_user_for_the_right_password_in_any_email_case(self, session):
        user = make_user(session, email="case@example.com")
        assert _login(session, "CASE@example.com") == user
        assert user.last_login_at is not None

    @pytest.mark.parametrize("email", ["nobody@example.com", "known@example.com"])
    def test_records_a_failure_for_unknown_emails_and_wrong_passwords(self, session, email):
        make_user(session, email="known@example.com")
        assert _login(session, email, "wrong password") is None
        key = service.email_key(email, secret_key=SECRET)
        assert session.exec(select(LoginAttempt).where(LoginAttempt.email_key == key)).one()

    def test_refuses_a_deactivated_user(self, session):
        user = make_user(session)
        service.update_user(session, user=user, data=UserUpdate(is_active=False), actor_id=None)
        assert _login(session, user.email) is None

    def test_locks_an_email_after_five_failures_for_fifteen_minutes(self, session):
        user = make_user(session)
        for _ in range(5):
            assert _login(session, user.email, "wrong", ip="10.0.0.2") is None
        with pytest.raises(TooManyRequests) as error:
            _login(session, user.email, ip="10.0.0.3")  # right password, other IP
        assert 14 * 60 <= error.value.retry_after <= 15 * 60 + 1
        key = service.email_key(user.email, secret_key=SECRET)
        later = utcnow() + timedelta(minutes=15, seconds=1)
        assert service.throttled_until(session, key=key, ip="10.0.0.3", now=later) is None

    def test_locks_an_ip_address_that_tries_many_emails(self, session):
        for number in range(5):
            _login(session, f"guess{number}@example.com", "wrong", ip="10.9.9.9")
        user = make_user(session)
        with pytest.raises(TooManyRequests):
            _login(session, user.email, ip="10.9.9.9")
        assert _login(session, user.email, ip="10.9.9.10") == user

    def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(self, session):
        key = service.email_key("slow@example.com", secret_key=SECRET)
        start = utcnow() - timedelta(minutes=40)
        for minute in (0, 5, 10, 15, 21):
            session.add(
                LoginAttempt(
                    email_key=key,
                    ip=f"10.1.1.{minute}",
                    attempted_at=start + timedelta(minutes=minute),
                )
            )
        session.flush()
        assert service.throttled_until(session, key=key, ip="10.2.2.2") is None

    def test_success_clears_the_failures_for_that_email(self, session):
        user = make_user(session)
        for _ in range(4):
            _login(session, user.email, "wrong", ip="10.3.3.3")
        assert _login(session, user.email, ip="10.3.3.3") == user
        _login(session, user.email, "wrong", ip="10.3.3.4")
        assert _login(session, user.email, ip="10.3.3.4") == user

    def test_purge_drops_old_attempts_only(self, session):
        session.add(LoginAttempt(email_key="a", ip="1", attempted_at=utcnow() - timedelta(days=2)))
        session.add(LoginAttempt(email_key="b", ip="1", attempted_at=utcnow()))
        session.flush()
        assert service.purge_login_attempts(session, before=utcnow() - timedelta(days=1)) == 1
        assert [a.email_key for a in session.exec(select(LoginAttempt))] == ["b"]


class TestApiTokens:
    def test_a_token_authenticates_its_user_until_revoked(self, session):
        user = make_user(session)
        token, secret = service.create_token(session, user=user, name="sync")
        assert secret.startswith("crm_") and token.prefix == secret[:10]
        assert secret not in token.token_hash
        assert service.token_for_secret(session, secret=secret) == (token, user)
        assert service.token_use_due(token, now=utcnow())
        service.record_token_use(session, token_id=token.id, now=utcnow())
        session.refresh(token)
        assert not service.token_use_due(token, now=utcnow())
        assert service.token_use_due(token, now=utcnow() + timedelta(minutes=2))
        service.revoke_token(session, user=user, token_id=token.id)
        with pytest.raises(NotAuthenticated):
            service.token_for_secret(session, secret=secret)

    def test_unknown_tokens_and_deactivated_users_are_refused(self, session):
        user = make_user(session)
        _, secret = service.create_token(session, user=user, name="sync")
        with pytest.raises(NotAuthenticated):
            service.token_for_secret(session, secret=secret + "x")
        service.update_user(session, user=user, data=UserUpdate(is_active=False), actor_id=None)
        with pytest.raises(NotAuthenticated):
            service.token_for_secret(session, secret=secret)

    def test_a_user_cannot_revoke_someone_elses_token(self, session):
        owner, other = make_user(session), make_user(session)
        token, _ = service.create_token(session, user=owner, name="sync")
        with pytest.raises(NotFound):
            service.revoke_token(session, user=other, token_id=token.id)
        assert token.revoked_at is None


def test_purge_job_removes_day_old_attempts(engine):
    from crm.core.db import job_session

    with job_session(engine) as session:
        session.add(
            LoginAttempt(email_key="job", ip="1", attempted_at=utcnow() - timedelta(days=3))
        )
    assert user_jobs.purge_login_attempts(engine) >= 1
    with job_session(engine) as session:
        assert session.exec(select(LoginAttempt).where(LoginAttempt.email_key == "job")).all() == []
