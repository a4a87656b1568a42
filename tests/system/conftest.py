"""Tests against real processes: `crm serve` started as people start it, on a database
of its own (SQLite, or PostgreSQL when the suite runs there) with a little demo data."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine

from crm import demo
from crm.cli import alembic_config
from crm.core.db import job_session, make_engine
from crm.users import service as user_service
from crm.users.models import Role, UserCreate
from tests.conftest import fresh_database

OWNER_EMAIL, OWNER_PASSWORD = "owner@example.com", "owner password"


@pytest.fixture
def database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """A migrated database with an owner and a few hundred customers, and its engine."""
    with fresh_database(tmp_path, request.node.name[:20]) as url:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        with job_session(engine) as session:
            owner = user_service.create_user(
                session,
                data=UserCreate(email=OWNER_EMAIL, name="Owner", roles=set(Role)),
                password=OWNER_PASSWORD,
                actor_id=None,
            )
            owner_id = owner.id
        demo.generate(
            engine,
            contacts=300,
            companies=30,
            touchpoints=2_000,
            owner_ids=[owner_id],
            now=datetime.now(UTC),
        )
        yield url, engine
        engine.dispose()


def owner_token(engine: Engine) -> dict[str, str]:
    """The owner's API token, as a bearer header."""
    with job_session(engine) as session:
        owner = user_service.get_user_by_email(session, email=OWNER_EMAIL)
        secret = user_service.create_token(session, user=owner, name="system tests")[1]
    return {"Authorization": f"Bearer {secret}"}
