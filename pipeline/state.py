"""Keyed state on Faust tables: writes with an explicit partition, expiry, and an in-memory index by group.

Every aggregate table here is keyed either by the record key of its source (an entity, a zone, a MAC) or by
`<record key>|<suffix>` (a zone's member, a MAC's window): so every key of one group sits on the partition
of its record key, and the worker that owns that partition answers for the whole group. `State` keeps an
index group → keys in memory (Faust has no prefix scan), rebuilt from the table after every recovery, and
expires keys by a deadline stored in the value (see expiry.py), tombstoning them in the changelog.

Values are JSON objects with two fields of ours: `_p`, the partition, and `_exp`, the deadline (epoch s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from faust.types import TP

from pipeline.expiry import ExpiryIndex, expire_due

SEP = "|"


def group_of(key: str) -> str:
    return key.split(SEP, 1)[0]


def composite(group: str, suffix: Any) -> str:
    return f"{group}{SEP}{suffix}"


class State:
    def __init__(
        self,
        table: Any,
        retention_s: float | None,
        assigned: Callable[[], Iterable[TP]],
        on_change: Callable[[str, dict | None], None] | None = None,
    ) -> None:
        self.table = table
        self.retention_s = retention_s
        self._assigned = assigned
        self.index: dict[str, set[str]] = {}
        self._size = 0
        self.expiry = ExpiryIndex()
        self.on_change = on_change
        table.on_recover(self.rebuild)

    @property
    def name(self) -> str:
        return self.table.name

    def active_partitions(self) -> set[int]:
        topic = self.table.changelog_topic.get_topic_name()
        return {tp.partition for tp in self._assigned() if tp.topic == topic}

    def get(self, key: str) -> dict | None:
        return self.table.data.get(key)

    def keys_of(self, group: str) -> list[str]:
        return sorted(self.index.get(group, ()))

    def __len__(self) -> int:
        """Keys held for the partitions this worker owns."""
        return self._size

    def put(self, key: str, value: dict, partition: int, now: float | None = None) -> None:
        """Write `value` at `key` on `partition` (the partition of its record key), changelog included."""
        value["_p"] = partition
        keys = self.index.setdefault(group_of(key), set())
        new = key not in keys
        if self.retention_s is not None:
            value["_exp"] = (now or time.time()) + self.retention_s
            # One expiry entry per key, not per write (a busy key would fill the heap for a whole retention):
            # when the entry of a refreshed key comes due, expire_due finds the later deadline, re-queues it.
            if new:
                self.expiry.add(value["_exp"], partition, key)
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value)
        if new:
            keys.add(key)
            self._size += 1
        if self.on_change:
            self.on_change(key, value)

    def delete(self, key: str, partition: int) -> None:
        self.table.data.pop(key, None)
        self.table.send_changelog(partition, key, value=None, value_serializer="raw")
        self._unindex(key)

    def _unindex(self, key: str) -> None:
        group = group_of(key)
        keys = self.index.get(group)
        if keys is not None and key in keys:
            keys.discard(key)
            self._size -= 1
            if not keys:
                del self.index[group]
        if self.on_change:
            self.on_change(key, None)

    def _indexed(self) -> set[str]:
        return {key for keys in self.index.values() for key in keys}

    async def rebuild(self) -> None:
        """After a recovery: index and expiry entries of the partitions this worker now owns."""
        mine = self.active_partitions()
        before = self._indexed()
        self.index = {}
        self._size = 0
        entries = []
        for key, value in self.table.data.items():
            if not isinstance(value, dict) or value.get("_p") not in mine:
                continue
            self.index.setdefault(group_of(key), set()).add(key)
            self._size += 1
            if "_exp" in value:
                entries.append((value["_exp"], value["_p"], key))
            if self.on_change:
                self.on_change(key, value)
        self.expiry.rebuild(entries)
        if self.on_change:  # the keys of partitions that went to another worker: gone from here
            for key in before - self._indexed():
                self.on_change(key, None)

    def expire(self, now: float | None = None) -> int:
        """Delete what passed its deadline; returns how many."""
        if self.retention_s is None:
            return 0
        return expire_due(
            self.table,
            self.expiry,
            now or time.time(),
            lambda v: v["_exp"],
            self.active_partitions(),
            on_delete=self._unindex,
        )


def public(value: dict | None) -> dict | None:
    """A stored value without our bookkeeping fields."""
    if value is None:
        return None
    return {k: v for k, v in value.items() if not k.startswith("_")}
