"""The fingerprints of the events seen within the dedupe horizon, per site partition.

Every event brings a fingerprint no other event has (copies aside), so a key per fingerprint would cost a
changelog record per event. Instead the fingerprints first seen since the last commit form one bucket per
partition, a key of the state (`~b|<ms>`) written once at the commit and closed then: a bucket never
changes once written. It expires, and is tombstoned, `horizon` seconds after it was closed; its
fingerprints go with it.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from pipeline.state import State

BUCKET = "~b"


class Seen:
    def __init__(self, state: State, horizon_s: float) -> None:
        self.state = state
        self.horizon_s = horizon_s
        state.on_change = self._changed
        self._fps: dict[int, dict[str, str]] = {}  # partition -> fingerprint -> its bucket
        self._buckets: dict[tuple[int, str], list[str]] = {}  # (partition, bucket) -> its fingerprints
        self._open: dict[int, tuple[str, list[str]]] = {}  # partition -> the bucket being filled
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(len(fps) for fps in self._fps.values())

    def seen(self, partition: int, fingerprint: str) -> bool:
        fps = self._fps.get(partition)
        return fps is not None and fingerprint in fps

    def add(self, partition: int, fingerprint: str, wall: float) -> None:
        bucket = self._open.get(partition)
        if bucket is None:
            key = f"{BUCKET}|{int(wall * 1000)}.{next(self._seq)}"
            bucket = self._open[partition] = (key, [])
            self.state.put(partition, key, {"fps": bucket[1]}, wall)
        key, fps = bucket
        fps.append(fingerprint)
        self._fps[partition][fingerprint] = key

    def close(self, now: float | None = None) -> None:
        """At a commit, once its snapshot is taken: the buckets written are not changed again; each expires
        a horizon after now."""
        deadline = (time.time() if now is None else now) + self.horizon_s
        for partition, (key, _fps) in self._open.items():
            value = self.state.get(partition, key)
            if value is not None:
                value["_exp"] = deadline
        self._open = {}

    def _changed(self, partition: int, key: str, value: Any) -> None:
        fps = self._fps.setdefault(partition, {})
        if value is None:  # expired, or given away
            for fp in self._buckets.pop((partition, key), ()):
                if fps.get(fp) == key:
                    del fps[fp]
            return
        self._buckets[(partition, key)] = value["fps"]
        for fp in value["fps"]:
            fps.setdefault(fp, key)
