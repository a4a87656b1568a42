import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from crm.core.db import UTCDateTime, job_session, make_engine, ping, read_only
from crm.users.models import User


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield engine
    engine.dispose()


class TestSQLiteConnection:
    def test_pragmas_are_set_on_every_connection(self, sqlite_engine):
        with sqlite_engine.connect() as conn:
            values = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "foreign_keys",
                    "busy_timeout",
                    "synchronous",
                    "secure_delete",
                )
            }
        assert values == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 30000,
            "synchronous": 1,
            "secure_delete": 1,
        }

    def test_writes_take_the_write_lock_when_they_begin(self, sqlite_engine, tmp_path):
        with sqlite_engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
        with sqlite_engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # a read only, yet the transaction is IMMEDIATE
            other = sqlite3.connect(tmp_path / "db.sqlite3", timeout=0.1, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
            conn.rollback()

    def test_read_only_sessions_leave_the_write_lock_free(self, sqlite_engine, tmp_path):
        with read_only(sqlite_engine).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            other = sqlite3.connect(tmp_path / "db.sqlite3", timeout=0.1, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            other.close()

    def test_a_failed_statement_rolls_back_the_whole_transaction(self, sqlite_engine):
        table = Table("item", MetaData(), Column("id", Integer, primary_key=True))
        table.metadata.create_all(sqlite_engine)
        with pytest.raises(OperationalError), job_session(sqlite_engine) as session:
            session.execute(insert(table).values(id=1))
            session.execute(select(Column("missing")).select_from(table))
        with Session(sqlite_engine) as session:
            assert session.execute(select(table)).all() == []

    def test_foreign_keys_are_enforced(self, sqlite_engine):
        with sqlite_engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("CREATE TABLE c (p_id INTEGER REFERENCES p(id))")
            with pytest.raises(Exception, match="FOREIGN KEY"):
                conn.exec_driver_sql("INSERT INTO c VALUES (42)")


class TestJobSession:
    def test_commits_on_success(self, engine):
        email = "job-session@example.com"
        with job_session(engine) as job:
            job.add(User(email=email, name="Job", password_hash="x"))
        try:
            with Session(engine) as fresh:
                assert fresh.exec(select(User).where(User.email == email)).first()
        finally:
            with job_session(engine) as job:
                job.delete(job.exec(select(User).where(User.email == email)).scalar_one())

    def test_rolls_back_on_error(self, engine):
        email = "job-session-error@example.com"
        with pytest.raises(RuntimeError), job_session(engine) as job:
            job.add(User(email=email, name="Job", password_hash="x"))
            job.flush()
            raise RuntimeError("boom")
        with Session(engine) as fresh:
            assert fresh.exec(select(User).where(User.email == email)).first() is None


class TestUTCDateTime:
    def test_round_trip_keeps_the_instant_in_utc(self, session):
        berlin = timezone(timedelta(hours=1))
        user = User(
            email="tz@example.com",
            name="TZ",
            password_hash="x",
            created_at=datetime(2026, 3, 1, 9, 30, tzinfo=berlin),
        )
        session.add(user)
        session.flush()
        session.expire(user)
        assert user.created_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
        assert user.created_at.tzinfo is not None

    def test_naive_datetimes_are_refused(self):
        with pytest.raises(ValueError, match="naive"):
            UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)


def test_ping_tells_whether_the_database_answers(engine, tmp_path):
    assert ping(engine) is True
    unreachable = make_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    assert ping(unreachable) is False
