"""Keyset pagination: the next page starts after the last row's sort key, never OFFSET.

A cursor is the sort key of the last row shown, encoded as URL-safe base64 JSON.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, tuple_

from crm.core.errors import N_, BadRequest

MAX_LIMIT = 200


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
    return key < tuple_(*values) if descending else key > tuple_(*values)
