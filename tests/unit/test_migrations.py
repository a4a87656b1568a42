"""`alembic upgrade head` on an empty database gives exactly the models, and back."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crm.cli import alembic_config
from crm.core.db import make_engine
from crm.models import include_object, metadata
from tests.conftest import fresh_database


@pytest.fixture
def empty_database(tmp_path):
    with fresh_database(tmp_path, "migrations") as url:
        yield url


def test_upgrade_head_reproduces_the_models_and_downgrade_base_removes_them(empty_database):
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object,
                },
            )
            assert compare_metadata(context, metadata) == []
            tables = set(inspect(conn).get_table_names())
            search = _search_structures(conn)
        assert {t for t in tables if include_object(None, t, "table", True, None)} == {
            *metadata.tables,
            "alembic_version",
        }
        assert (
            search
            == {
                "sqlite": {
                    "contact_fts",
                    "contact_fts_insert",
                    "contact_fts_update",
                    "contact_fts_delete",
                },
                "postgresql": {"ix_contact_search_trgm"},
            }[engine.dialect.name]
        )
        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
            assert _search_structures(conn) == set()
        command.upgrade(config, "head")  # and up again: downgrade left nothing behind
    finally:
        engine.dispose()


def _search_structures(conn) -> set[str]:
    """The backend-only search objects that autogenerate cannot see."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE name IN ('contact_fts', 'contact_fts_insert', "
            "'contact_fts_update', 'contact_fts_delete')"
        )
    else:
        rows = conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_contact_search_trgm'"
        )
    return {row[0] for row in rows}


def test_migrations_form_one_line_of_history():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1
    for script in scripts.walk_revisions():
        assert script.doc, f"{script.revision} has no description"
