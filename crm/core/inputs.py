"""Text no request may carry, wherever it stands: NUL characters (PostgreSQL cannot store
them and SQLite's driver refuses them) and lone surrogates (halves of a UTF-16 pair that
JSON's escapes can spell but no database or encoder takes). Refused with a 422 naming
the field before any route or validation sees them, so that no input can reach a place
where they would fail as a 5xx."""

import json
import re
from typing import Any

from fastapi import Request

from crm.core.db import SAFE_METHODS
from crm.core.errors import N_, Invalid

_UNFIT = re.compile("[\x00\ud800-\udfff]")
# In JSON's bytes these can only stand as escapes (or a raw NUL, which JSON refuses).
_UNFIT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
MESSAGE = N_("The text may not contain NUL characters or unpaired surrogates.")


def _refuse(name: str) -> Invalid:
    # A name that is itself unfit cannot be echoed back.
    return Invalid(MESSAGE, field=None if _UNFIT.search(name) else name)


def _check_pairs(pairs: Any) -> None:
    for name, value in pairs:
        if _UNFIT.search(name) or (isinstance(value, str) and _UNFIT.search(value)):
            raise _refuse(name)


def _unfit_path(value: Any, path: str) -> str | None:
    """The dotted path of the first unfit text in a JSON document, or None."""
    if isinstance(value, str):
        return path if _UNFIT.search(value) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _UNFIT.search(key):
            return where
        found = _unfit_path(item, where)
        if found is not None:
            return found
    return None


async def clean_text(request: Request) -> None:
    """Refuse a request whose path, query, form or JSON body holds unfit text."""
    _check_pairs(request.path_params.items())
    _check_pairs(request.query_params.multi_items())
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("content-type", "").startswith(_FORMS):
        _check_pairs((await request.form()).multi_items())
        return
    body = await request.body()
    if not _UNFIT_ESCAPE.search(body):  # most bodies: no second parse
        return
    try:
        document = json.loads(body)
    except ValueError:  # not JSON: the route's own parsing answers for it
        return
    where = _unfit_path(document, "")
    if where is not None:
        raise _refuse(where)
