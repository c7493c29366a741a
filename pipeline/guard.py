"""The loop of every agent: one failing record never stops the worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def each(
    stream: Any,
    stage: str,
    handle: Callable[[Any], Awaitable[None]],
    on_error: Callable[[str, Any, Exception], Awaitable[None]],
) -> None:
    """The loop of every agent: one record at a time; an exception on one record is handed to `on_error`
    (a dead letter) instead of crashing the agent, which Faust would restart past the record."""
    async for event in stream.events():
        try:
            await handle(event)
        except Exception as exc:
            await on_error(stage, event, exc)
