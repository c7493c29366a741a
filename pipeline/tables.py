"""Aggregates: the tables kept from the enriched events (logic in aggregate.py).

The enrich agent hands every event it publishes to `Aggregates.apply`, on the partition it read it from:
mist.parsed is keyed like the enriched topics, by what the tables group on (DESIGN.md), so a table key - or
the group part of a composite key - always lives on the partition of the event being processed. Reading the
enriched topics back would cost the worker a Faust record per event for nothing. The one repartitioning is
for occupancy alerts, which Mist batches per site: they are re-keyed by zone through an internal topic.
Windows are in event time; retention is by the wall clock since the last update (see state.py).

Faust delivers at least once (after a crash the records since the last commit come again), so every update is
idempotent per delivery: RSSI windows keep watermarks of the deliveries they counted; the other aggregates are
newest-wins or keyed by identity (see "deliveries" in aggregate.py).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from mistpipe.settings import Settings
from pipeline import aggregate as agg
from pipeline.guard import each
from pipeline.produce import Sink
from pipeline.state import State, composite, group_of, public
from topics.names import rssi_windows_topic, zone_visits_topic

WINDOW_GRACE_S = 15.0  # Mist sends batches within ~5 s: a window closes 15 s (event time) after its end
TICK_S = 1.0
# A broker refuses a record whose timestamp is more than log.message.timestamp.after.max.ms ahead of its clock
# (1 h by default since Kafka 4.0), and no record carries one past int64 milliseconds (a send raises, or fails
# after the fact and the record is lost). An event time beyond that stays in the value, not on the record.
MAX_AHEAD_S = 1800.0


def record_time(ts: float | None) -> float | None:
    """The Kafka timestamp of a record about event time `ts`: `ts`, or None (the time of sending) when a
    broker would refuse it."""
    return ts if ts is not None and 0 <= ts <= time.time() + MAX_AHEAD_S else None


@dataclass
class Aggregates:
    """The states the query API reads."""

    locations: State
    members: State  # zone|member -> membership, history, visits
    visit_windows: State  # zone|start -> visits of the window
    rssi_windows: State  # mac|start -> per-AP statistics
    devices: State
    alerts: State
    zones_seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # zone id -> name, site, map
    map_index: dict[str, set[str]] = field(default_factory=dict)  # map id -> entity keys (local partitions)
    # (mist topic, enriched event, the Faust event it came from): the tables of that topic updated.
    apply: Callable[[str, dict, Any], Awaitable[None]] | None = None

    def all(self) -> tuple[State, ...]:
        return (
            self.locations,
            self.members,
            self.visit_windows,
            self.rssi_windows,
            self.devices,
            self.alerts,
        )


def wire_aggregates(
    app: Any,
    settings: Settings,
    metrics: Any,
    table_options: dict | None,
    on_error: Callable[[str, Any, Exception], Awaitable[None]],
    sink: Sink,
) -> Aggregates:
    """The aggregate tables, `Aggregates.apply` that keeps them, and the agent of re-keyed occupancy alerts;
    a record that fails goes to `on_error`. Records and changelog records go through `sink`."""
    prefix = settings.topic_prefix
    assigned = app.assignor.assigned_actives

    def table(name: str) -> Any:
        created = app.Table(name, key_type=str, options=table_options)
        sink.changelog(created)
        return created

    retention = settings.retention_seconds
    map_index: dict[str, set[str]] = {}

    def index_map(key: str, value: dict | None) -> None:
        # Entities by map, for /v1/maps/{map_id}/locations: kept beside the table, rebuilt with it.
        for keys in map_index.values():
            keys.discard(key)
        if value is not None and value.get("map_id"):
            map_index.setdefault(value["map_id"], set()).add(key)

    published: dict[str, int] = {}  # RSSI window key -> its sample count when last published

    def forget_published(key: str, value: dict | None) -> None:
        if value is None:  # the window expired: no memory of it is kept either
            published.pop(key, None)

    aggs = Aggregates(
        locations=State(table("locations"), retention, assigned, on_change=index_map),
        members=State(table("zone-members"), retention, assigned),
        visit_windows=State(table("zone-visit-windows"), retention, assigned),
        rssi_windows=State(table("rssi-windows"), retention, assigned, on_change=forget_published),
        devices=State(table("devices"), None, assigned),
        alerts=State(table("occupancy-alerts"), None, assigned),
        map_index=map_index,
    )
    visits_out = zone_visits_topic(prefix)
    rssi_out = rssi_windows_topic(prefix)
    # Occupancy alerts come batched per site: re-keyed by zone so the alert table is keyed like the zones.
    alerts_by_zone = app.topic(
        f"{settings.app_id}-occupancy-alerts-by-zone",
        key_type=str,
        key_serializer="json",
        value_serializer="raw",
        internal=True,
        partitions=settings.partitions,
    )

    # -- locations ---------------------------------------------------------------------------------------
    async def locations_one(data: dict, partition: int) -> None:
        if not (data.get("mac") or data.get("id")):
            return  # valid for its model (an empty `id`), but no one to locate
        mist_topic = data["mist"]["topic"]
        record = agg.location_record(mist_topic, data)
        key = record["key"]
        old = aggs.locations.get(key)
        if agg.newer_location(public(old), record):
            aggs.locations.put(key, record, partition)

    # -- zones -------------------------------------------------------------------------------------------
    horizon = settings.dedupe_seconds
    window = settings.visit_window_seconds

    async def publish_visit(
        zone_id: str, zone: dict, member: str, state: dict, visit: list, retracted: bool
    ) -> None:
        entered, exited = visit
        record = {
            "zone_id": zone_id,
            "zone_name": zone.get("name"),
            "site_id": zone.get("site_id"),
            "map_id": zone.get("map_id"),
            "member": member,
            "member_type": state.get("type"),
            "entered": entered,
            "exited": exited,
            "dwell_s": exited - entered,
            "retracted": retracted,
        }
        await sink.send(visits_out, zone_id, orjson.dumps(record), timestamp=record_time(exited))

    def change_window(zone_id: str, visit: list, member: str, add: bool, partition: int) -> None:
        """Add (or remove) a visit in the window of its exit; idempotent: a visit is keyed by its id."""
        entered, exited = visit
        start = agg.window_start(exited, window)
        key = composite(zone_id, start)
        current = public(aggs.visit_windows.get(key))
        vid = agg.visit_id(member, entered)
        if add:
            if current is not None and current["visits"].get(vid) == float(exited - entered):
                return  # counted already
            updated = agg.add_visit(current, vid, exited - entered)
        else:
            if current is None or vid not in current["visits"]:
                return
            updated = agg.remove_visit(current, vid)
        aggs.visit_windows.put(key, updated, partition)

    async def zones_one(data: dict, partition: int) -> None:
        zone_id = data.get("zone_id") or data.get("rssizone_id")
        member = data.get("mac") or data.get("id") or data.get("asset_id")
        if not zone_id or not member or data.get("timestamp") is None:
            return
        zone = {
            "name": (data.get("zone") or {}).get("name"),
            "site_id": data.get("site_id"),
            "map_id": data.get("map_id"),
        }
        aggs.zones_seen[zone_id] = zone
        key = composite(zone_id, member)
        stored = public(aggs.members.get(key))
        old = None if stored is None else {k: v for k, v in stored.items() if k != "zone"}
        state, added, removed, ignored = agg.apply_zone_event(
            old, member, data.get("type") or "", data["timestamp"], data["trigger"], horizon
        )
        if state == old:  # a duplicate (a record read again after a crash), or later than the horizon allows
            # After a crash the member's value may have reached its changelog without the windows' (two
            # tables): make sure the visits it holds are counted in their windows (a no-op when they are).
            for visit in (old or {}).get("visits", ()):
                change_window(zone_id, visit, member, True, partition)
            return
        state["zone"] = zone
        # The windows first, then the member: their changelog records are sent in this order, so a member
        # value restored after a crash implies (on one broker) that its windows were written too.
        for visit in removed:
            change_window(zone_id, visit, member, False, partition)
        for visit in added:
            change_window(zone_id, visit, member, True, partition)
        aggs.members.put(key, state, partition)
        if ignored > 0:  # negative when a late enter pairs an exit that was ignored so far
            metrics.zone_exits_ignored.labels(data["mist"]["topic"]).inc(ignored)
        for visit in removed:
            await publish_visit(zone_id, zone, member, state, visit, retracted=True)
        for visit in added:
            await publish_visit(zone_id, zone, member, state, visit, retracted=False)

    # -- RSSI --------------------------------------------------------------------------------------------
    rssi_size = settings.rssi_window_seconds
    # Event-time clock per partition: the newest sample time seen, advanced by the wall clock while the
    # partition is idle, so the last windows close too. Windows waiting to close: (end, partition, key).
    stream_time: dict[int, tuple[float, float]] = {}
    open_windows: list[tuple[float, int, str]] = []
    queued: set[str] = set()  # the keys in open_windows: one entry per window, not per sample

    def clock(partition: int, wall: float) -> float:
        newest, seen_at = stream_time.get(partition, (0.0, wall))
        return newest + (wall - seen_at)

    async def close_windows(wall: float) -> None:
        while open_windows:
            end, partition, key = open_windows[0]
            if end + WINDOW_GRACE_S > clock(partition, wall):
                return
            heapq.heappop(open_windows)
            queued.discard(key)
            value = public(aggs.rssi_windows.get(key))
            if value is None:
                continue
            count = sum(ap["count"] for ap in value.values())
            if published.get(key) == count:
                continue
            published[key] = count
            mac, start = group_of(key), float(key.rsplit("|", 1)[1])
            view = agg.rssi_window_view(value, start, rssi_size)
            await sink.send(
                rssi_out, mac, orjson.dumps({"mac": mac, **view}), timestamp=record_time(view["end"])
            )

    async def rssi_one(data: dict, partition: int) -> None:
        wall = time.time()
        # Counting is not idempotent: each window value keeps the watermarks of the deliveries it counted, so
        # that a record read again after a crash, or published twice, is not counted twice (aggregate.py).
        delivery = agg.delivery_of(data)
        for (mac, start), samples in agg.rssi_deliveries(data["mist"]["topic"], data, rssi_size).items():
            key = composite(mac, start)
            updated = agg.add_rssi_delivery(aggs.rssi_windows.get(key), samples, delivery)
            if updated is None:  # this window counted this delivery already
                continue
            aggs.rssi_windows.put(key, updated, partition, wall)
            # A sample for an already published window re-opens it: it is published again, updated.
            if key not in queued:
                queued.add(key)
                heapq.heappush(open_windows, (start + rssi_size, partition, key))
            newest = stream_time.get(partition, (0.0, wall))[0]
            stream_time[partition] = (max(newest, max(ts for _, _, ts in samples)), wall)
        await close_windows(wall)

    # -- devices and occupancy alerts --------------------------------------------------------------------
    async def devices_one(data: dict, partition: int) -> None:
        mac = agg.device_mac(data)
        if mac is None:
            return
        updated = agg.apply_device_event(public(aggs.devices.get(mac)), data)
        if updated is not None:
            aggs.devices.put(mac, updated, partition)

    async def occupancy_alerts_one(data: dict, partition: int) -> None:
        for zone_id, alert in agg.occupancy_alerts(data):
            await sink.send(alerts_by_zone.get_topic_name(), zone_id, orjson.dumps(alert))

    handlers: dict[str, tuple[str, Callable[[dict, int], Awaitable[None]]]] = {}
    for topics, stage, handle in (
        (agg.LOCATION_TOPICS, "locations", locations_one),
        (agg.ZONE_TOPICS, "zones", zones_one),
        (agg.RSSI_TOPICS, "rssi", rssi_one),
        (agg.DEVICE_TOPICS, "devices", devices_one),
        (("occupancy-alerts",), "occupancy-alerts", occupancy_alerts_one),
    ):
        handlers.update(dict.fromkeys(topics, (stage, handle)))

    async def apply(mist_topic: str, data: dict, event: Any) -> None:
        """Update the tables of `mist_topic` with one enriched event (`data`) read as `event`; a failure
        goes to `on_error` under the table's stage, and the event stays published."""
        found = handlers.get(mist_topic)
        if found is None:
            return
        stage, handle = found
        try:
            await handle(data, event.message.partition)
        except Exception as exc:
            await on_error(stage, event, exc)

    aggs.apply = apply

    async def alerts_table_one(event: Any) -> None:
        alert = orjson.loads(event.value)
        if agg.newer_alert(public(aggs.alerts.get(event.key)), alert):
            aggs.alerts.put(event.key, alert, event.message.partition)

    @app.agent(alerts_by_zone, concurrency=1)
    async def alerts_table(stream: Any) -> None:
        await each(stream, "alerts", alerts_table_one, on_error)

    # -- housekeeping ------------------------------------------------------------------------------------
    @app.timer(TICK_S)
    async def tick() -> None:
        await close_windows(time.time())

    @app.timer(5.0)
    async def expire() -> None:
        for state in (aggs.locations, aggs.members, aggs.visit_windows, aggs.rssi_windows):
            deleted = state.expire()
            if deleted:
                metrics.expired.labels(state.name).inc(deleted)
        for state in aggs.all():
            metrics.table_keys.labels(state.name).set(len(state))

    @aggs.rssi_windows.table.on_recover
    async def reopen_windows() -> None:
        # Windows restored from the changelog close (and publish) like the others: faust #385 is about
        # windows that never expire after recovery; here every restored window is queued again.
        open_windows.clear()
        queued.clear()
        mine = aggs.rssi_windows.active_partitions()
        for key, value in aggs.rssi_windows.table.data.items():
            if isinstance(value, dict) and value.get("_p") in mine:
                start = float(key.rsplit("|", 1)[1])
                heapq.heappush(open_windows, (start + rssi_size, value["_p"], key))
                queued.add(key)

    return aggs
