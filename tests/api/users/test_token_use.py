"""Recording a token's use against a real database, with the app's own sessions."""

import logging

from alembic import command
from fastapi.testclient import TestClient

from crm.cli import alembic_config
from crm.core.db import job_session, make_engine
from crm.main import create_app
from crm.users import service as user_service
from crm.users.models import ApiToken, Role, UserCreate
from tests.conftest import PASSWORD, fresh_database, make_settings


def test_a_write_records_the_use_in_its_own_transaction(tmp_path, caplog):
    """A write request holds SQLite's write lock from its first statement: recording the
    token's use in a second transaction would wait for it, and fail."""
    with fresh_database(tmp_path, "tokens") as url:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        with job_session(engine) as session:
            user = user_service.create_user(
                session,
                data=UserCreate(email="token@example.com", name="Token", roles={Role.SALES_REP}),
                password=PASSWORD,
                actor_id=None,
            )
            token, secret = user_service.create_token(session, user=user, name="script")
            token_id = token.id
        client = TestClient(create_app(make_settings(tmp_path, url), engine=engine))
        with caplog.at_level(logging.WARNING, logger="crm"):
            answer = client.post(
                "/api/v1/me/tokens",
                json={"name": "second"},
                headers={"Authorization": f"Bearer {secret}"},
            )
        assert answer.status_code == 201
        assert "could not record the use" not in caplog.text
        with job_session(engine) as session:
            assert session.get(ApiToken, token_id).last_used_at is not None
        engine.dispose()
