"""SQL functions that SQLite and PostgreSQL spell differently, for reporting queries."""

from datetime import date
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session


def plan_for_values(session: Session) -> None:
    """On PostgreSQL, plan the rest of the transaction's statements for their own values:
    the generic plan that a statement run often gets priced for no value in particular
    (a period, a search) and can walk the wrong index."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


class days_between(FunctionElement[float]):
    """``end - start`` in days, as a float."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(julianday({end}) - julianday({start}))"


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)"


class whole(FunctionElement[int]):
    """A non-negative number rounded down to a whole one."""

    type = Integer()
    name = "whole"
    inherit_cache = True


@compiles(whole, "sqlite")
def _whole_sqlite(element: whole, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(whole, "postgresql")
def _whole_postgresql(element: whole, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


class greatest(FunctionElement[Any]):
    """The largest of its (non-NULL) arguments."""

    name = "greatest"
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "postgresql")
def _greatest_postgresql(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


class bytes_contain(FunctionElement[bool]):
    """Whether a binary column holds the given text, ignoring case (ASCII letters; other
    bytes compare as they are)."""

    type = Boolean()
    name = "bytes_contain"
    inherit_cache = True


@compiles(bytes_contain, "sqlite")
def _bytes_contain_sqlite(element: bytes_contain, compiler: Any, **kw: Any) -> str:
    data, needle = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(instr(lower(CAST({data} AS TEXT)), lower({needle})) > 0)"


@compiles(bytes_contain, "postgresql")
def _bytes_contain_postgresql(element: bytes_contain, compiler: Any, **kw: Any) -> str:
    data, needle = (compiler.process(arg, **kw) for arg in element.clauses)
    # 'escape' keeps ASCII as it is and spells other bytes out: never an encoding error.
    return f"(position(lower({needle}) in lower(encode({data}, 'escape'))) > 0)"


class utc_day(FunctionElement[date]):
    """The UTC calendar day of a stored time (times are stored in UTC)."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"
