"""Pieces shared by the request schemas of every domain."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any


def blank_is_none(value: Any) -> Any:
    """Surrounding spaces never matter, and an empty text means "none": forms send every
    field, filled or not. Use as ``field_validator("*", mode="before")(blank_is_none)``."""
    if isinstance(value, str):
        return value.strip() or None
    return value


# A client's clock may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


def past_or_now(value: datetime | None) -> datetime | None:
    """A time with its zone, not in the future (as UTC). Use as a field validator."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give the time with its time zone")
    if value > datetime.now(UTC).replace(microsecond=0) + CLOCK_SKEW:
        raise ValueError("the time cannot lie in the future")
    return value.astimezone(UTC)


def key_for(name: str, taken: set[str], *, fallback: str) -> str:
    """A key made from a name (lower case, digits and underscores), unique among
    ``taken``: "Needs analysis" -> "needs_analysis", then "needs_analysis_2"."""
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32] or fallback
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key
