"""Order-independent tie-breaking, shared by the newest-wins aggregates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def nullable(value: Any) -> tuple:
    """A sort key for a value that may be None: None sorts first, then the values themselves."""
    return (0,) if value is None else (1, value)


def content_key(record: Mapping[str, Any], fields: Iterable[str]) -> tuple:
    return tuple(nullable(record.get(f)) for f in fields)


def newer(old: Mapping[str, Any] | None, new: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    """`new` orders after `old` by `fields` (each None first), the first field, event time, decided
    without building the whole key when both have it and it differs (the common case)."""
    if old is None:
        return True
    a, b = new.get(fields[0]), old.get(fields[0])
    if a is not None and b is not None and a != b:
        return a > b
    return content_key(new, fields) > content_key(old, fields)
