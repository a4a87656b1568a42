"""Keyset pagination: the next page starts after the last row's sort key, never OFFSET.

A cursor is the sort key of the last row shown, encoded as URL-safe base64 JSON.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, func, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session

from crm.core.errors import N_, BadRequest

MAX_LIMIT = 200

# (the cursor's conditions, the order) -> the ids of the matches among the next rows
Window = Callable[[list[ColumnElement[bool]], list[ColumnElement[Any]]], Select[Any]]
# (the cursor's conditions, the order, how many) -> the ids of the first matches after
# the cursor, in order
Firsts = Callable[[list[ColumnElement[bool]], list[ColumnElement[Any]], int], Select[Any]]


class Paging(NamedTuple):
    """How a filter's matches are paged, when another index than the sort's finds them.

    ``sort_in_memory`` orders by expressions no index matches (the same order), for
    filters that select few rows: it keeps the planner from walking a sort index past
    rows the filter rejects.

    ``window``, for a filter with many matches: given the cursor's conditions and the
    order, it selects the ids of the matches among a bounded number of next rows of the
    order. When those hold the page, the page is theirs (the first matches among the
    next rows are the first of all). When they hold a tenth of a page or more, the
    matches are spread out and walking the sort index on finds the page soon. Fewer,
    and the matches lie together further down the order (a surname), where a walk could
    cross most of the table: they are sorted in memory instead.

    ``firsts`` selects the ids of the page itself, from an index kept in the order: the
    page is those rows, whatever else the query says.
    """

    sort_in_memory: bool = False
    window: Window | None = None
    firsts: Firsts | None = None


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, kinds: Sequence[type]) -> list[Any]:
    """The sort key in a cursor, checked against the kinds of the sort columns."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        return [_load(value, kind) for value, kind in zip(values, kinds, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(N_("The cursor is not valid; start again from the first page.")) from exc


def _load(value: Any, kind: type) -> Any:
    if kind is datetime:
        return datetime.fromisoformat(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError
    return value


def after(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], *, descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``columns``."""
    key = tuple_(*columns)
    # Bind each value with its column's type: on SQLite a datetime must be stored text in
    # the column's own format to compare correctly.
    bound = tuple_(
        *(literal(value, type_=column.type) for column, value in zip(columns, values, strict=True))
    )
    return key < bound if descending else key > bound


def keyset_page(
    session: Session,
    query: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    descending: bool,
    cursor: str | None,
    limit: int,
    paging: Paging = Paging(),
) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by ``keys`` (ending in a unique one), and the next
    cursor; ``paging`` when another index finds the matches of its filter.

    Fetches one row more than asked to learn whether a next page exists, so that no
    count of the whole table is ever needed.
    """
    kinds = [_kind_of(key) for key in keys]
    conditions = []
    if cursor:
        conditions.append(after(keys, decode_cursor(cursor, kinds=kinds), descending=descending))
    query = query.where(*conditions)
    limit = max(1, min(limit, MAX_LIMIT))
    order = [key.desc() if descending else key.asc() for key in keys]
    if paging.firsts is not None:
        page = query.where(keys[-1].in_(paging.firsts(conditions, order, limit + 1)))
        return _cut(list(session.exec(page.order_by(*order))), keys, limit)
    sort_in_memory = paging.sort_in_memory
    if paging.window is not None:
        near = query.where(keys[-1].in_(paging.window(conditions, order)))
        rows = list(session.exec(near.order_by(*order).limit(limit + 1)))
        if len(rows) > limit:
            return _cut(rows, keys, limit)
        sort_in_memory = len(rows) * 10 < limit
    if sort_in_memory:
        hidden = [func.coalesce(key, key) for key in keys]
        order = [key.desc() if descending else key.asc() for key in hidden]
    return _cut(list(session.exec(query.order_by(*order).limit(limit + 1))), keys, limit)


def _cut(
    rows: list[Any], keys: Sequence[InstrumentedAttribute[Any]], limit: int
) -> tuple[list[Any], str | None]:
    """The page, and the cursor after it when the row after the page came too."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([getattr(rows[-1], key.key) for key in keys])


def _kind_of(key: InstrumentedAttribute[Any]) -> type:
    column_type = key.type
    # A TypeDecorator (such as UTCDateTime) answers for its underlying type.
    python_type = getattr(column_type, "impl", column_type).python_type
    return datetime if issubclass(python_type, datetime) else python_type
