"""Bounded table state: expire keys of plain Faust tables by deadline, tombstones included.

Faust only expires windowed tables, by the wall clock, and windows restored from the changelog never expire
(faust-streaming #385): its expiry index lives in memory and is not rebuilt on recovery. Here the deadline is
part of each table value, so the index is rebuilt from the table after every recovery, and an expired key is
deleted from the store *and* tombstoned in the changelog, so a restart does not bring it back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any


class ExpiryIndex:
    """A heap of (deadline, partition, key). Entries may be stale (the key was refreshed or deleted since):
    `expire_due` checks each against the table before deleting."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, deadline: float, partition: int, key: Any) -> None:
        heapq.heappush(self._heap, (deadline, partition, key))

    def rebuild(self, entries: Iterable[tuple[float, int, Any]]) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)

    def pop_due(self, now: float, limit: int = 10_000) -> list[tuple[float, int, Any]]:
        due = []
        while self._heap and self._heap[0][0] <= now and len(due) < limit:
            due.append(heapq.heappop(self._heap))
        return due


def expire_due(
    table: Any,
    index: ExpiryIndex,
    now: float,
    deadline_of: Callable[[Any], float],
    active_partitions: set[int] | None = None,
    limit: int = 10_000,
    on_delete: Callable[[Any], None] | None = None,
) -> int:
    """Delete the keys of `table` whose deadline passed; return how many. `deadline_of(value)` reads the
    deadline from a value; a refreshed key is put back with its new deadline. Keys of partitions this
    worker no longer owns are left to their new owner."""
    deleted = 0
    for _deadline, partition, key in index.pop_due(now, limit):
        if active_partitions is not None and partition not in active_partitions:
            continue
        value = table.data.get(key)
        if value is None:
            continue
        deadline = deadline_of(value)
        if deadline > now:
            index.add(deadline, partition, key)
            continue
        table.data.pop(key, None)
        # What Table.__delitem__ does, with the partition given: outside an agent there is no current event.
        table.send_changelog(partition, key, value=None, value_serializer="raw")
        deleted += 1
        if on_delete is not None:
            on_delete(key)
    return deleted
