"""How keys and values go on the wire; the ingest and the Faust pipeline must agree byte for byte.

Keys are JSON strings (``"abc"`` → ``b'"abc"'``): Faust tables with ``key_serializer="json"`` find the
owner of a key by hashing its JSON bytes (``table_route``), so records must carry those same bytes to sit on
the partition that the owner reads. Faust serialises JSON with orjson, as here.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS  # table state may hold int / tuple keys; orjson writes them as strings


def encode_key(key: str | None) -> bytes | None:
    """``"abc"`` → ``b'"abc"'``; None stays None (an unkeyed record)."""
    return None if key is None else orjson.dumps(key)


def decode_key(data: bytes | None) -> str | None:
    return None if data is None else orjson.loads(data)


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """JSON bytes of a value: dicts, lists, scalars, enums, and pydantic models (extra fields included)."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)
