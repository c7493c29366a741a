"""Changelogged state, per source partition, in memory: what every aggregate and the dedupe stage keep.

A `State` is a Faust table (memory store) used for what Faust does well: the changelog topic, its partitions
following the source partitions, and the recovery of a partition's keys when a worker is given it. Writes do
not go through Faust's per-write changelog record: a key changed since the last commit is written to the
changelog once, at the next commit (what Kafka Streams' record cache and Quix Streams' checkpoint do), by
`snapshot`. Each value written carries its marks (`_m`): the newest offset of each source topic whose events
the value holds. A source record read a second time (after a crash, the records since the last committed
offset) at or below a value's mark is in that value already: an aggregate that counts does not count it
again (`holds`); the others are unchanged by a second application anyway. Each snapshot ends, per partition,
with the partition's marks: restored, they vouch for every record before them in the changelog (a partition
is written in order), so a record at or below them needs nothing from this state.

Keys in the table are ``<partition>|<key>``: the same client can have a state in two sites' partitions. In an
`indexed` state, a key of the form ``<group>|<rest>`` (a zone's member, a beacon's window) is indexed by
group, per partition.
Values are JSON objects (or numbers); an object's ``_exp`` field is its deadline (retention by the wall
clock since the last write: see expiry.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pipeline.expiry import ExpiryIndex

SEP = "|"
MARKS = "~marks"  # the key, under its partition, of a partition's marks: {source topic: offset}

Change = Callable[[int, str, Any], None]  # (partition, key, value or None when gone)


def group_of(key: str) -> str:
    return key.split(SEP, 1)[0]


def composite(group: str, suffix: Any) -> str:
    return f"{group}{SEP}{suffix}"


def suffix_of(key: str) -> str:
    return key.rsplit(SEP, 1)[1]


class State:
    def __init__(
        self,
        table: Any,
        data: dict[str, Any],
        retention_s: float | None = None,
        on_change: Change | None = None,
        indexed: bool = False,
    ) -> None:
        """`data` is the table's store itself (pipeline.faust.store_of): what Faust recovers into."""
        self.table = table
        self.data = data
        self.retention_s = retention_s
        self.indexed = indexed
        self._count = 0  # keys held, marks aside
        self.on_change = on_change
        self.expiry = ExpiryIndex()
        self.owned: frozenset[int] = frozenset()
        self._index: dict[int, dict[str, set[str]]] = {}  # partition -> group -> keys
        self._dirty: dict[str, tuple[int, str, Any]] = {}  # full key -> (partition, key, value or None)
        self._marks: dict[int, dict[str, int]] = {}  # partition -> {source topic: offset held}

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def changelog(self) -> str:
        return self.table.changelog_topic.get_topic_name()

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, partition: int, key: str) -> Any:
        return self.data.get(f"{partition}{SEP}{key}")

    def keys_of(self, partition: int, group: str) -> list[str]:
        return sorted(self._index.get(partition, {}).get(group, ()))

    def groups(self, partition: int) -> Iterable[str]:
        return self._index.get(partition, {}).keys()

    def items(self, partition: int) -> Iterator[tuple[str, Any]]:
        """The keys and values of a partition (of an indexed state)."""
        for keys in self._index.get(partition, {}).values():
            for key in keys:
                value = self.data.get(f"{partition}{SEP}{key}")
                if value is not None:
                    yield key, value

    def __len__(self) -> int:
        """Keys held for the partitions this worker owns."""
        return self._count

    @property
    def dirty(self) -> bool:
        """Whether the changelog lacks a change."""
        return bool(self._dirty)

    def held(self, partition: int, topic: str) -> int:
        """The newest offset of `topic`'s partition whose events this state holds (-1: none)."""
        return self._marks.get(partition, {}).get(topic, -1)

    @staticmethod
    def holds(value: Any, topic: str, offset: int) -> bool:
        """Whether a value, as restored from the changelog, holds the events of `offset` of `topic`."""
        return value is not None and offset <= value.get("_m", {}).get(topic, -1)

    # -- writes ------------------------------------------------------------------------------------------

    def put(self, partition: int, key: str, value: Any, now: float | None = None) -> None:
        full = f"{partition}{SEP}{key}"
        if self.retention_s is not None:
            value["_exp"] = (now or time.time()) + self.retention_s
        new = full not in self.data
        self.data[full] = value
        self._dirty[full] = (partition, key, value)
        if new:
            self._count += 1
            if self.indexed:
                self._index.setdefault(partition, {}).setdefault(group_of(key), set()).add(key)
            if self.retention_s is not None:
                # One expiry entry per key, not per write: a refreshed key is re-queued when its entry is due.
                self.expiry.add(value["_exp"], partition, key)
        if self.on_change is not None:
            self.on_change(partition, key, value)

    def delete(self, partition: int, key: str) -> None:
        full = f"{partition}{SEP}{key}"
        if self.data.pop(full, None) is None:
            return
        self._dirty[full] = (partition, key, None)
        self._count -= 1
        self._unindex(partition, key)

    def _unindex(self, partition: int, key: str) -> None:
        groups = self._index.get(partition) if self.indexed else None
        if groups is not None:
            group = group_of(key)
            keys = groups.get(group)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del groups[group]
        if self.on_change is not None:
            self.on_change(partition, key, None)

    # -- the commit --------------------------------------------------------------------------------------

    def snapshot(self, progress: Mapping[int, Mapping[str, int]]) -> list[tuple[int, str, Any]]:
        """What the changelog lacks, as (partition, table key, value or None): every key changed since the
        last snapshot, once, with its value now; then, for each partition of `progress` this worker owns,
        the marks (the newest offset read of each source topic: the state holds all their events)."""
        for partition, offsets in progress.items():
            if partition in self.owned and offsets:
                self._marks.setdefault(partition, {}).update(offsets)
        records = []
        marks = {p: dict(m) for p, m in self._marks.items()}  # one copy per partition, shared by its values
        for full, (partition, _key, value) in self._dirty.items():
            if isinstance(value, dict):
                value["_m"] = marks.get(partition, {})  # what this value holds, from now on
            records.append((partition, full, value))
        self._dirty = {}
        for partition in progress:
            if partition in self.owned and partition in self._marks:
                full = f"{partition}{SEP}{MARKS}"
                self.data[full] = dict(self._marks[partition])
                records.append((partition, full, self.data[full]))
        return records

    # -- partitions given and taken ----------------------------------------------------------------------

    def rebuild(self, owned: Iterable[int]) -> None:
        """After a recovery: this worker holds the keys of `owned` (what Faust restored, and what it wrote
        itself); those of other partitions are dropped (another worker keeps them now)."""
        before = self._held() if self.on_change is not None else set()
        self.owned = frozenset(owned)
        self._index = {}
        self._marks = {}
        self._count = 0
        self._dirty = {k: v for k, v in self._dirty.items() if v[0] in self.owned}
        entries = []
        for full in list(self.data):
            head, _, key = full.partition(SEP)
            partition = int(head) if head.isdigit() else -1
            if partition not in self.owned:
                del self.data[full]
                continue
            value = self.data[full]
            if key == MARKS:
                self._marks[partition] = dict(value)
                continue
            self._count += 1
            if self.indexed:
                self._index.setdefault(partition, {}).setdefault(group_of(key), set()).add(key)
            if isinstance(value, dict) and "_exp" in value:
                entries.append((value["_exp"], partition, key))
            if self.on_change is not None:
                self.on_change(partition, key, value)
        self.expiry.rebuild(entries)
        if self.on_change is not None:  # what this worker held before and no longer does
            for partition, key in before - self._held():
                self.on_change(partition, key, None)

    def _held(self) -> set[tuple[int, str]]:
        out = set()
        for full in self.data:
            head, _, key = full.partition(SEP)
            if key != MARKS and head.isdigit() and int(head) in self.owned:
                out.add((int(head), key))
        return out

    def expire(self, now: float | None = None, limit: int = 10_000) -> int:
        """Delete what passed its deadline (tombstoned at the next snapshot); returns how many."""
        if self.retention_s is None:
            return 0
        now = time.time() if now is None else now
        deleted = 0
        for _deadline, partition, key in self.expiry.pop_due(now, limit):
            if partition not in self.owned:
                continue
            value = self.get(partition, key)
            if value is None:
                continue
            if value["_exp"] > now:
                self.expiry.add(value["_exp"], partition, key)
                continue
            self.delete(partition, key)
            deleted += 1
        return deleted


def public(value: dict | None) -> dict | None:
    """A stored value without our bookkeeping fields."""
    if value is None:
        return None
    return {k: v for k, v in value.items() if not k.startswith("_")}
