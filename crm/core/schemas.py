"""Pieces shared by the request schemas of every domain."""

from typing import Any


def blank_is_none(value: Any) -> Any:
    """Surrounding spaces never matter, and an empty text means "none": forms send every
    field, filled or not. Use as ``field_validator("*", mode="before")(blank_is_none)``."""
    if isinstance(value, str):
        return value.strip() or None
    return value
