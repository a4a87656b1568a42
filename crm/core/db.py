"""Engine, connection pragmas, sessions and the shared column helpers.

One user action is one transaction: the request's session commits when the route
returns and rolls back when anything raises; services only flush.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel

from crm.core.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_ONLY = "crm_read_only"


class Privacy(StrEnum):
    """How a column relates to the GDPR (DESIGN.md rule 7)."""

    NONE = "none"  # keys, flags, figures, data about legal persons
    PERSONAL = "personal"  # identifies or describes a natural person
    FREE_TEXT = "free_text"  # typed by users: may mention anybody
    SECRET = "secret"  # noqa: S105 - credentials: never exported, dropped on erasure


def column(privacy: Privacy, **kwargs: Any) -> Any:
    """A SQLModel ``Field`` whose column carries its privacy class."""
    column_kwargs = kwargs.pop("sa_column_kwargs", {})
    column_kwargs["info"] = {**column_kwargs.get("info", {}), "privacy": privacy}
    return Field(sa_column_kwargs=column_kwargs, **kwargs)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact amounts, stored as whole ten-thousandths of the main unit: SQLite's NUMERIC
    is a float, and integers let either database sum amounts exactly."""

    impl = BigInteger
    cache_ok = True
    UNITS = 10_000

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        return None if value is None else int(value * self.UNITS)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value) / self.UNITS


def timestamp(privacy: Privacy = Privacy.NONE, **kwargs: Any) -> Any:
    kwargs.setdefault("sa_type", UTCDateTime)
    return column(privacy, **kwargs)


@cache
def default_engine() -> Engine:
    """The engine for the configured database, shared by the CLI and scheduled jobs."""
    return make_engine(get_settings().database_url)


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Statement parameters are names and addresses: keep them out of error messages.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the driver so that we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "synchronous=NORMAL",
        "secure_delete=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A deferred transaction that later writes can fail with SQLITE_BUSY instead of
    # waiting, losing the update; writers therefore take the write lock up front.
    mode = "DEFERRED" if conn.get_execution_options().get(_READ_ONLY) else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


_statements: ContextVar[list[int] | None] = ContextVar("crm_statements", default=None)


def count_statements(engine: Engine) -> None:
    """Count the statements each request runs (see StatementCounter)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        counter = _statements.get()
        if counter is not None:
            counter[0] += 1


class StatementCounter:
    """Adds X-SQL-Statements to every answer; the benchmark reads it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        _statements.set(counter)  # the thread pool that runs routes copies this context

        async def send_with_count(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (b"x-sql-statements", str(counter[0]).encode())
                )
            await send(message)

        await self.app(scope, receive, send_with_count)


def read_only(engine: Engine) -> Engine:
    """The same engine, whose SQLite transactions do not take the write lock."""
    return engine.execution_options(**{_READ_ONLY: True})


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """One transaction: committed when the block succeeds, rolled back when it raises."""
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def admitted(request: Request) -> AsyncIterator[None]:
    """Let at most ``threads`` requests work at once; the others wait here, holding
    nothing. A request's transaction spans several worker threads (its dependencies and
    its route each take one), so without this, waiting requests could take every thread
    while the one holding the database (SQLite's write lock, a pooled connection) waits
    for a thread to finish in."""
    limit = getattr(request.app.state, "admission", None)
    if limit is None:  # a test app started without its lifespan
        yield
        return
    async with limit:
        yield


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's transaction. Opening a session does no I/O, and ending a read on
    SQLite (WAL) never waits for a lock: both happen here, sparing a page two of its
    hand-overs to a worker thread. A write's commit, or any on PostgreSQL (a round trip to
    the server), runs in a thread."""
    engine: Engine = request.app.state.engine
    reading = request.method in SAFE_METHODS
    bind = request.app.state.reading_engine if reading else engine
    transaction = committing(Session(bind, expire_on_commit=False))
    if reading and engine.dialect.name == "sqlite":
        with transaction as session:
            yield session
    else:
        async with contextmanager_in_threadpool(transaction) as session:
            yield session


# scope="function": commit before the response is sent, so that a failed commit is
# reported to the user instead of silently losing what they saw acknowledged.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Ids for rows about to be inserted in bulk, so that their child rows can be built
    at once: SQLite returns inserted ids in order only one row at a time."""
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return list(session.execute(query, {"table": table.name, "n": count}).scalars())
    # Our SQLite writers hold the write lock from BEGIN IMMEDIATE: nobody else can take
    # these ids before the rows are inserted.
    last = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(last + 1, last + 1 + count))


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) with Core, bypassing the ORM."""
    if not rows:
        return
    connection = session.connection()
    names = list(rows[0])
    if connection.dialect.name != "postgresql":
        # The driver's executemany, with the columns' own conversions: SQLAlchemy's
        # per-row parameter handling costs more than SQLite's insert itself.
        dialect = connection.dialect
        statement = table.insert().compile(dialect=dialect, column_keys=names)
        order = statement.positiontup or []
        convert = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
        ]
        # Columns the rows leave out but the statement names take their scalar default.
        defaults = {
            name: table.c[name].default.arg
            for name in order
            if name not in rows[0] and table.c[name].default is not None
        }
        connection.exec_driver_sql(
            str(statement),
            [
                tuple(
                    value if to_db is None else to_db(value)
                    for value, to_db in zip(
                        (row[name] if name in row else defaults[name] for name in order),
                        convert,
                        strict=True,
                    )
                )
                for row in rows
            ],
        )
        return
    # COPY: one stream instead of a statement per row.
    json_columns = {name for name in names if isinstance(table.c[name].type, JSON)}
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [Json(row[name]) if name in json_columns else row[name] for name in names]
                )
    except psycopg.errors.IntegrityError as exc:
        # As SQLAlchemy reports it for any other statement.
        raise IntegrityError(statement, None, exc) from exc


@contextmanager
def savepoint(session: Session) -> Iterator[Session]:
    """A transaction inside ``session``'s own: released when the block succeeds, rolled
    back alone when it raises. For work that a request starts and that must not wait for
    the write lock the request's own transaction holds (SQLite has one writer)."""
    with session.begin_nested():
        yield session


def job_session(engine: Engine) -> AbstractContextManager[Session]:
    """A session for scheduled jobs and the CLI: one transaction, committed on success."""
    return committing(Session(engine, expire_on_commit=False))


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        with read_only(engine).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception:  # any failure means "not reachable" to a health check
        return False
    return True


def version_column() -> Any:
    """The edit counter of a record two people may change at once: the ORM adds it to
    every UPDATE's WHERE and raises StaleDataError when someone else changed the row in
    between, and forms send the version they showed, so a stale edit is refused (409)
    instead of silently overwriting the other. Use it with ``__mapper_args__``."""
    return Column(
        "version",
        Integer,
        nullable=False,
        default=1,
        server_default=text("1"),
        info={"privacy": Privacy.NONE},
    )
