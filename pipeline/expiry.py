"""Bounded state: the deadlines of the keys of a State, soonest first.

Faust only expires windowed tables, by the wall clock, and windows restored from the changelog never expire
(faust-streaming #385): its expiry index lives in memory and is not rebuilt on recovery. Here the deadline is
part of each value (`_exp`), so the index is rebuilt from the state after every recovery, and an expired key
is deleted *and* tombstoned in the changelog (state.py), so a restart does not bring it back.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Any


class ExpiryIndex:
    """(deadline, partition, key) soonest first. Entries may be stale (the key was refreshed or deleted
    since): the state checks each before deleting.

    Deadlines are the wall clock plus a fixed retention, so they come in order: those go to a queue, O(1);
    the few that do not (a clock set back, a rebuild) to a heap beside it."""

    def __init__(self) -> None:
        self._queue: deque[tuple[float, int, Any]] = deque()
        self._late: list[tuple[float, int, Any]] = []

    def __len__(self) -> int:
        return len(self._queue) + len(self._late)

    def add(self, deadline: float, partition: int, key: Any) -> None:
        entry = (deadline, partition, key)
        queue = self._queue
        if not queue or entry >= queue[-1]:
            queue.append(entry)
        else:
            heapq.heappush(self._late, entry)

    def rebuild(self, entries: Iterable[tuple[float, int, Any]]) -> None:
        self._queue = deque(sorted(entries))
        self._late = []

    def pop_due(self, now: float, limit: int = 10_000) -> list[tuple[float, int, Any]]:
        due = []
        queue, late = self._queue, self._late
        while len(due) < limit:
            if queue and (not late or queue[0] <= late[0]):
                if queue[0][0] > now:
                    break
                due.append(queue.popleft())
            elif late and late[0][0] <= now:
                due.append(heapq.heappop(late))
            else:
                break
        return due
