"""RSSI of each beacon or client, per reporting AP, over tumbling event-time windows."""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.aggregates.base import OneState
from pipeline.aggregates.windows import window_start
from pipeline.state import State, group_of, suffix_of
from topics.models.common import normalise_mac

RSSI_TOPICS = frozenset({"discovered-raw-rssi", "asset-raw", "asset-raw-rssi", "sdkclient-scan-data"})

# -- RSSI ------------------------------------------------------------------------------------------------

_DEVICE_ID_MAC = re.compile(r"[0-9a-fA-F]{12}")


def _reporting_ap(event: Mapping[str, Any]) -> str | None:
    """The AP that heard the beacon: the MAC ending `device_id` (00000000-0000-0000-1000-<mac>), else `ap`;
    else, as received, whichever of the two names an AP in a form that is no MAC (parsing lets an identity
    of the wrong form through: it still tells one AP from another)."""
    device_id = event.get("device_id")
    if isinstance(device_id, str):
        tail = device_id.rpartition("-")[2]
        if _DEVICE_ID_MAC.fullmatch(tail):
            return tail.lower()
    ap = event.get("ap")
    if ap:
        try:
            return normalise_mac(ap)
        except ValueError:
            pass
    for name in (device_id, ap):
        if isinstance(name, str) and name:
            return name
    return None


def _received_s(event: Mapping[str, Any]) -> float | None:
    received = (event.get("mist") or {}).get("received_at_ms")
    return received / 1000.0 if received is not None else None


def rssi_samples(mist_topic: str, event: Mapping[str, Any]) -> list[tuple[str, str, float, float]]:
    """(mac, ap, rssi, ts) samples of an enriched RSSI event.

    discovered-raw-rssi, asset-raw, asset-raw-rssi: one sample, the beacon `mac` heard by the AP whose MAC
    ends `device_id` (else `ap`), at `timestamp` (else the ingest time `mist.received_at_ms`, for the
    topics where Mist makes it optional). sdkclient-scan-data: one sample per `scan_data` item: the SDK
    client's `mac`, the item's `ap` and `rssi`, at the item's `timestamp` else the event's `last_seen`.
    Samples without a MAC, AP, RSSI or time are skipped; other topics (wifi-*-raw included) give none.
    """
    mac = event.get("mac")
    if not mac:
        return []
    if mist_topic == "sdkclient-scan-data":
        out = []
        fallback = event.get("last_seen")
        for item in event.get("scan_data") or ():
            ap, rssi = item.get("ap"), item.get("rssi")
            ts = item.get("timestamp")
            if ts is None:
                ts = fallback
            if ap and rssi is not None and ts is not None:
                out.append((mac, ap, float(rssi), float(ts)))
        return out
    if mist_topic not in RSSI_TOPICS:
        return []
    rssi = event.get("rssi")
    ap = _reporting_ap(event)
    ts = event.get("timestamp")
    if ts is None:
        ts = _received_s(event)
    if ap is None or rssi is None or ts is None:
        return []
    return [(mac, ap, float(rssi), float(ts))]


def add_rssi_sample(window: Mapping[str, Any] | None, ap: str, rssi: float, ts: float) -> dict[str, Any]:
    """Window value {ap: {"count", "sum", "min", "max", "last", "last_ts"}} with one sample added.

    "last" is the RSSI of the newest sample by event time; at equal times the larger RSSI, so it does not
    depend on arrival order. "sum" is a running float sum: exact, hence order-independent, for integer dBm
    (what Mist sends); with fractional values it may differ in the last bits between orders."""
    rssi, ts = float(rssi), float(ts)
    out = dict(window) if window else {}
    stats = out.get(ap)
    if stats is None:
        out[ap] = {"count": 1, "sum": rssi, "min": rssi, "max": rssi, "last": rssi, "last_ts": ts}
        return out
    newer = ts > stats["last_ts"] or (ts == stats["last_ts"] and rssi > stats["last"])
    out[ap] = {
        "count": stats["count"] + 1,
        "sum": stats["sum"] + rssi,
        "min": min(stats["min"], rssi),
        "max": max(stats["max"], rssi),
        "last": rssi if newer else stats["last"],
        "last_ts": ts if newer else stats["last_ts"],
    }
    return out


def rssi_window_view(window: Mapping[str, Any] | None, start: float, size_s: float) -> dict[str, Any]:
    """{"start", "end", "aps": {ap: {"count", "sum", "min", "max", "last"}}}, APs in MAC order (the stored
    value's own "_" fields are not APs)."""
    aps = {}
    for ap in sorted(k for k in window or () if not k.startswith("_")):
        s = window[ap]  # type: ignore[index]
        aps[ap] = {"count": s["count"], "sum": s["sum"], "min": s["min"], "max": s["max"], "last": s["last"]}
    return {"start": start, "end": start + size_s, "aps": aps}


class Rssi(OneState):
    """RSSI windows per emitter of a site, per partition: `mac|start` -> per-AP statistics. A window is
    published to `mist.rssi.windows` once closed, 15 s of event time after its end (Mist sends batches
    within ~5 s), and again whenever a late sample changes it. Event time per partition: the newest sample
    time seen, moved on by the wall clock while the partition is idle, so that the last windows close too."""

    topics = RSSI_TOPICS
    GRACE_S = 15.0

    def __init__(
        self, state: State, publish: Callable[[str, str, dict[str, Any], float], None], size_s: float
    ):
        super().__init__(state)
        state.on_change = self._forget
        self.publish = publish
        self.size_s = size_s
        self._clock: dict[int, tuple[float, float]] = {}  # partition -> (newest sample time, wall then)
        # Windows to close, per partition by their end: most windows open share one of a few ends.
        self._ends: dict[int, list[float]] = {}  # partition -> a heap of the ends of its windows open
        self._open: dict[tuple[int, float], list[str]] = {}  # (partition, end) -> keys
        self._queued: set[tuple[int, str]] = set()  # what _open holds, once per window
        self._published: dict[tuple[int, str], int] = {}  # window -> its sample count when published

    def _forget(self, partition: int, key: str, value: Any) -> None:
        if value is None:  # expired, or given away: nothing of it is kept
            self._published.pop((partition, key), None)

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        samples = rssi_samples(mist_topic, event)
        if not samples:
            return
        newest = self._clock.get(partition, (0.0, wall))[0]
        for mac, ap, value, ts in samples:
            start = window_start(ts, self.size_s)
            key = f"{mac}|{start}"
            window = self.state.get(partition, key)
            if State.holds(window, *source):
                continue  # read again after a crash, and counted before it: not twice
            self.state.put(partition, key, add_rssi_sample(window, ap, value, ts), wall)
            slot = (partition, key)
            if slot not in self._queued:  # a sample for a published window re-opens it
                self._queue(start + self.size_s, slot)
            newest = max(newest, ts)
        self._clock[partition] = (newest, wall)

    def now(self, partition: int, wall: float) -> float:
        newest, seen_at = self._clock.get(partition, (0.0, wall))
        return newest + (wall - seen_at)

    def _queue(self, end: float, slot: tuple[int, str]) -> None:
        self._queued.add(slot)
        partition, key = slot
        waiting = self._open.get((partition, end))
        if waiting is None:
            waiting = self._open[(partition, end)] = []
            heapq.heappush(self._ends.setdefault(partition, []), end)
        waiting.append(key)

    def _due(self, wall: float) -> list[tuple[int, str]]:
        """The windows whose end is GRACE_S behind their partition's event time, taken off the queue."""
        due: list[tuple[int, str]] = []
        for partition, ends in self._ends.items():
            now = self.now(partition, wall) - self.GRACE_S
            while ends and ends[0] <= now:
                end = heapq.heappop(ends)
                due += [(partition, key) for key in self._open.pop((partition, end))]
        return due

    def close(self, wall: float) -> int:
        """Publish the windows whose end is GRACE_S behind their partition's event time; how many."""
        published = 0
        for partition, key in self._due(wall):
            self._queued.discard((partition, key))
            value = self.state.get(partition, key)
            if value is None or partition not in self.state.owned:
                continue
            count = sum(s["count"] for ap, s in value.items() if ap[0] != "_")
            if self._published.get((partition, key)) == count:
                continue
            self._published[(partition, key)] = count
            mac, start = group_of(key), float(suffix_of(key))
            view = rssi_window_view(value, start, self.size_s)
            self.publish("rssi", mac, {"mac": mac, **view}, view["end"])
            published += 1
        return published

    def reopen(self) -> None:
        """After a recovery: every window held is queued to close (and publish) like the others (Faust's
        own windows never expire once restored, faust-streaming #385)."""
        self._ends, self._open, self._queued = {}, {}, set()
        for partition in self.state.owned:
            for key, _value in self.state.items(partition):
                self._queue(float(suffix_of(key)) + self.size_s, (partition, key))

    def windows(self, partition: int, mac: str) -> list[dict[str, Any]]:
        out = []
        for key in self.state.keys_of(partition, mac):
            value = self.state.get(partition, key)
            if value is not None:
                out.append(rssi_window_view(value, float(suffix_of(key)), self.size_s))
        return out
