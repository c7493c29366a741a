"""Every use of faust-streaming's internals, in one place, checked against the version they were read in.

- `fixes`: corrections to its consumer (seeks after a rebalance, the fetch wait), installed by `apply`.
- `direct`: the source topics' records processed as the consumer hands them over, without a stream, and
  without a race of tasks per record in the fetch loop (`direct.apply`).
- `install_commit`: what Faust awaits before it commits offsets (its producer's flush, which it also runs
  on a rebalance and at shutdown) becomes the worker's commit: outputs, then state, then dedupe marks.
- `store_of`: a table's memory store, the dict Faust recovers a changelog into, read and written directly.
- `owned_partitions`: the active partitions of a topic in this worker's assignment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust

from pipeline.faust import direct, fixes
from pipeline.faust.fixes import fetching

__all__ = ["apply", "direct", "fetching", "install_commit", "on_recovered", "owned_partitions", "store_of"]

log = logging.getLogger(__name__)

SUPPORTED = ("0.15.",)  # what these were read in and tested with


def apply() -> None:
    """Check Faust's version and install the corrections; called by create_app (idempotent)."""
    if not faust.__version__.startswith(SUPPORTED):
        raise RuntimeError(
            f"pipeline.faust was written against faust-streaming {', '.join(SUPPORTED)}x, not "
            f"{faust.__version__}: read its corrections again before running on it"
        )
    fixes.apply()
    direct.apply()


def store_of(table: Any) -> dict[str, Any]:
    """The dict a memory-store table keeps its keys in (what recovery fills)."""
    store = table.data
    if not isinstance(store, faust.stores.memory.Store):
        raise TypeError(f"table {table.name} must use the memory store, not {type(store).__name__}")
    return store.data


def owned_partitions(app: Any, topic: str) -> set[int]:
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def install_commit(app: Any, commit: Callable[[], Awaitable[None]]) -> None:
    """Run `commit` inside the flush that Faust awaits before it commits offsets, before its own flush.
    One at a time: a flush on a rebalance waits for the commit's."""
    producer = app.producer
    flush = producer.flush
    lock = asyncio.Lock()

    async def commit_then_flush() -> None:
        async with lock:
            await commit()
            await flush()

    producer.flush = commit_then_flush


def on_recovered(tables: Iterable[Any], callback: Callable[[], Awaitable[None]]) -> None:
    """`callback` once Faust recovered the tables after an assignment (each table reports; once per round
    is enough, so the callback runs after the last one)."""
    pending: set[str] = set()
    names = [t.name for t in tables]

    for table in tables:

        async def recovered(name: str = table.name) -> None:
            if not pending:
                pending.update(names)
            pending.discard(name)
            if not pending:
                await callback()

        table.on_recover(recovered)
