"""Pieces shared by the request schemas of every domain."""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict


class Strict:
    """A request schema that refuses fields it does not know (a 422 naming each): a
    misspelt or unsupported field must not be dropped silently. Put it first among the
    bases of every schema a client sends."""

    model_config = ConfigDict(extra="forbid")


def blank_is_none(value: Any) -> Any:
    """Surrounding spaces never matter, and an empty text means "none": forms send every
    field, filled or not. Use as ``field_validator("*", mode="before")(blank_is_none)``."""
    if isinstance(value, str):
        return value.strip() or None
    return value


# Every date and time a client sends lies in these years: far from the ends of Python's
# calendar, where moving a time to UTC or adding a day overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _moment_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the time with its time zone")
    out_of_range = ValueError(f"give a time between the years {FIRST_YEAR} and {LAST_YEAR}")
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:  # its offset pushes it past year 1 or 9999
        raise out_of_range from exc
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise out_of_range
    return value


def _day_in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"give a date between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def parse_day(text: str) -> date:
    """A date as a form sends it (YYYY-MM-DD), in range; ValueError otherwise."""
    return _day_in_range(date.fromisoformat(text))


# The types of every date and time a request carries, in a body or a query.
Moment = Annotated[datetime, AfterValidator(_moment_in_range)]
Day = Annotated[date, AfterValidator(_day_in_range)]


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
