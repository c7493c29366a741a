"""Aggregates: pure functions from enriched events and table values to new table values.

The Faust agents (tables.py) hold the state; everything here is state in, new state out. Rules for all:

- Values are plain JSON types (dicts, lists, str, float, int, bool, None): what
  `orjson.loads(orjson.dumps(v))` gives back is accepted again unchanged. No tuples inside stored values
  (JSON turns them into lists).
- Nothing mutates its input; an unchanged state may be returned as the very same object (`new is old`).
- Deterministic and, wherever the issue asks for it, independent of arrival order: Mist batches and retries,
  so the newest event *by event time* wins, and ties are broken on the content, never on arrival.

Topics: locations (`LOCATION_TOPICS`), zone enter/exit (`ZONE_TOPICS`), raw RSSI (`RSSI_TOPICS`), device
status (`DEVICE_TOPICS`) and occupancy alerts.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

from topics.models.common import normalise_mac

LOCATION_TOPICS = frozenset(
    {"location", "location-asset", "location-client", "location-unclient", "location-sdk", "location-centrak"}
)
ZONE_TOPICS = frozenset({"zone", "rssizone"})
RSSI_TOPICS = frozenset({"discovered-raw-rssi", "asset-raw", "asset-raw-rssi", "sdkclient-scan-data"})
DEVICE_TOPICS = frozenset({"device-updowns", "device-events"})


def _nullable(value: Any) -> tuple:
    """A sort key for a value that may be None: None sorts first, then the values themselves."""
    return (0,) if value is None else (1, value)


def _content_key(record: Mapping[str, Any], fields: Iterable[str]) -> tuple:
    return tuple(_nullable(record.get(f)) for f in fields)


# -- locations -------------------------------------------------------------------------------------------

# `type` when the event has none: location-sdk carries SDK clients, location-asset BLE assets, location-client
# and -unclient Wi-Fi clients. location-centrak (Wi-Fi tags) and location (type required) get no default.
_LOCATION_DEFAULT_TYPE = {
    "location-sdk": "sdk",
    "location-asset": "asset",
    "location-client": "wifi",
    "location-unclient": "wifi",
}
LOCATION_FIELDS = (
    "key",
    "type",
    "site_id",
    "site_name",
    "map_id",
    "map_name",
    "x",
    "y",
    "x_px",
    "y_px",
    "timestamp",
)
# Tie-break order of newer_location: event time, then position, then everything else, so that two records
# win the same way whatever order they arrive in (equal keys mean equal records).
_LOCATION_ORDER = (
    "timestamp",
    "x",
    "y",
    "map_id",
    "x_px",
    "y_px",
    "site_id",
    "type",
    "map_name",
    "site_name",
)


def location_key(event: Mapping[str, Any]) -> str:
    """The located entity: the client/asset `mac`, else the SDK client's `id` (SDK clients have no MAC).
    Raises ValueError when the event has neither (parsing guarantees one on every location topic)."""
    mac = event.get("mac")
    if mac:
        return mac
    ident = event.get("id")
    if ident:
        return str(ident)
    raise ValueError("a location event needs a `mac` or an SDK `id`")


def location_record(mist_topic: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The last-known-location value of an enriched location event: exactly the fields of LOCATION_FIELDS.

    `type` is the event's, else the topic's default (location-sdk "sdk", location-asset "asset",
    location-client/-unclient "wifi"; None otherwise). Site and map names come from the enrichment; the ids
    from the event, else from the enrichment. Missing values are None; x/y are meters, x_px/y_px pixels.
    """
    site = event.get("site") or {}
    map_ = event.get("map") or {}
    timestamp = event.get("timestamp")
    return {
        "key": location_key(event),
        "type": event.get("type") or _LOCATION_DEFAULT_TYPE.get(mist_topic),
        "site_id": event.get("site_id") or site.get("id"),
        "site_name": site.get("name") or event.get("site_name"),
        "map_id": event.get("map_id") or map_.get("id"),
        "map_name": map_.get("name"),
        "x": event.get("x"),
        "y": event.get("y"),
        "x_px": event.get("x_px"),
        "y_px": event.get("y_px"),
        "timestamp": float(timestamp) if timestamp is not None else None,
    }


def newer_location(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when `new` should replace `old`: the newest by event time wins. Ties (equal timestamps) are broken
    by (x, y, map_id, then the other fields) so the winner never depends on arrival order; an identical
    record is not newer (False). A record without a timestamp loses to any that has one."""
    if old is None:
        return True
    return _content_key(new, _LOCATION_ORDER) > _content_key(old, _LOCATION_ORDER)


# -- zones -----------------------------------------------------------------------------------------------
#
# State per (zone, member):
#   {"member": str, "type": str, "history": [[ts, "enter"|"exit"], ...] sorted, "base": {"inside", "entered"},
#    "visits": [[entered, exited], ...], "ignored_exits": int}
#
# `history` holds the member's recent events in event-time order; `base` is the membership before the first
# of them. Membership, visits and ignored exits are re-derived from base + history by a small state machine,
# so the result depends only on the set of events, not on the order they arrived in:
#   outside + enter → inside, entered = ts      inside + enter → nothing (a repeated enter)
#   inside + exit   → visit [entered, ts], out   outside + exit → ignored (an exit without an enter), counted
# Ties: at equal ts "enter" sorts before "exit" (plain list order: "enter" < "exit"), so an enter and an exit
# at the same instant make a zero-length visit rather than an ignored exit.
#
# Late-arrival horizon: history entries older than (newest ts - horizon_s) are folded into `base`; their
# visits are final and leave `visits` (they were reported when they appeared). An event older than that cut
# is ignored. Within the horizon the result is the same for any arrival order.

ENTER, EXIT = "enter", "exit"


def zone_key(event: Mapping[str, Any]) -> str | None:
    """The zone of a zone/rssizone event: `zone_id`, else `rssizone_id`."""
    return event.get("zone_id") or event.get("rssizone_id")


def zone_member(event: Mapping[str, Any]) -> str | None:
    """Who entered or left: the `mac`, else the SDK client `id`, else the `asset_id`."""
    return event.get("mac") or event.get("id") or event.get("asset_id")


def _run(
    inside: bool, entered: float | None, entries: Iterable[list], visits: list[list[float]]
) -> tuple[bool, float | None, int]:
    """The zone state machine over `entries` (sorted); appends visits, returns (inside, entered, ignored)."""
    ignored = 0
    for ts, trigger in entries:
        if trigger == ENTER:
            if not inside:
                inside, entered = True, ts
        elif inside:
            visits.append([entered, ts])
            inside, entered = False, None
        else:
            ignored += 1
    return inside, entered, ignored


def _ts_of(entry: list) -> float:
    return entry[0]


def apply_zone_event(
    state: dict[str, Any] | None,
    member: str,
    member_type: str,
    ts: float,
    trigger: str,
    horizon_s: float,
) -> tuple[dict[str, Any], list[list[float]], list[list[float]], int]:
    """Apply one enter/exit of `member` at event time `ts`. Returns (new_state, visits_added, visits_removed,
    ignored_exits_delta).

    A late event can change visits already reported (enter 10, exit 30, then a late exit 20: [10, 30] is
    removed, [10, 20] added, one exit ignored); consumers apply `visits_removed` before `visits_added`.
    `ignored_exits_delta` may be negative (a late enter pairs with an exit counted as ignored before); the
    total never is. A duplicate (the same ts and trigger already in the history) or an event older than the
    late-arrival horizon returns `state` itself, unchanged, with nothing added or removed.
    `type` is the member type of its newest event (ties: the greater string).
    """
    if trigger != ENTER and trigger != EXIT:
        raise ValueError(f"zone trigger must be 'enter' or 'exit', got {trigger!r}")
    ts = float(ts)
    if state is None:
        history: list[list] = []
        base_inside, base_entered = False, None
        old_visits: list[list[float]] = []
        old_total = 0
        kind = member_type
    else:
        history = state["history"]
        base = state["base"]
        base_inside, base_entered = base["inside"], base["entered"]
        old_visits = state["visits"]
        old_total = state["ignored_exits"]
        kind = state.get("type")
        if history:
            newest = history[-1][0]
            if ts < newest - horizon_s:
                return state, [], [], 0  # beyond the late-arrival horizon
            if ts > newest:
                kind = member_type
            elif ts == newest and kind != member_type:
                kind = max(kind or "", member_type or "") or kind
        else:
            kind = member_type

    entry = [ts, trigger]
    i = bisect_left(history, entry)
    if i < len(history) and history[i] == entry:
        return state, [], [], 0  # type: ignore[return-value]  # a duplicate
    new_history = [*history[:i], entry, *history[i:]]

    _, _, old_ignored = _run(base_inside, base_entered, history, [])
    new_visits: list[list[float]] = []
    _, _, new_ignored = _run(base_inside, base_entered, new_history, new_visits)
    ignored_delta = new_ignored - old_ignored

    old_set = {(v[0], v[1]) for v in old_visits}
    new_set = {(v[0], v[1]) for v in new_visits}
    added = [v for v in new_visits if (v[0], v[1]) not in old_set]
    removed = [list(v) for v in old_visits if (v[0], v[1]) not in new_set]

    # Fold what fell behind the horizon into the base: those entries, and their visits, are final.
    cut = new_history[-1][0] - horizon_s
    k = bisect_left(new_history, cut, key=_ts_of)
    if k:
        folded: list[list[float]] = []
        base_inside, base_entered, _ = _run(base_inside, base_entered, new_history[:k], folded)
        new_history = new_history[k:]
        kept_visits = new_visits[len(folded) :]
    else:
        kept_visits = new_visits

    new_state = {
        "member": member,
        "type": kind,
        "history": new_history,
        "base": {"inside": base_inside, "entered": base_entered},
        "visits": kept_visits,
        "ignored_exits": old_total + ignored_delta,
    }
    return new_state, added, removed, ignored_delta


def zone_membership(state: Mapping[str, Any] | None) -> tuple[bool, float | None]:
    """(inside?, entered ts of the current stay). Membership follows the member's newest event by event
    time; the stay began at the first enter after the last exit."""
    if state is None:
        return False, None
    history = state["history"]
    if not history:
        base = state["base"]
        return bool(base["inside"]), base["entered"] if base["inside"] else None
    if history[-1][1] == EXIT:
        return False, None
    for j in range(len(history) - 2, -1, -1):
        if history[j][1] == EXIT:
            return True, history[j + 1][0]
    base = state["base"]
    return True, base["entered"] if base["inside"] else history[0][0]


def visit_record(zone_id: str, member: str, visit: list[float]) -> dict[str, Any]:
    """A visit as published to mist.zone.visits: {zone, member, entered, exited, dwell_s}."""
    entered, exited = visit
    return {
        "zone": zone_id,
        "member": member,
        "entered": entered,
        "exited": exited,
        "dwell_s": exited - entered,
    }


# -- visit windows (tumbling, per zone; a visit counts in the window containing its exit) -----------------


def window_start(ts: float, size_s: float) -> float:
    """Start of the tumbling window of `size_s` seconds that contains `ts` (multiples of size since epoch):
    start <= ts < start + size_s."""
    start = float(math.floor(ts / size_s) * size_s)
    if start > ts:  # ts / size_s rounded up to the next integer
        start -= size_s
    return start


def visit_id(member: str, entered: float) -> str:
    """Identity of a visit: its member and entry time ("<member>@<entered>"). Stable when a late event moves
    its exit, so the window that counted it can drop it again."""
    return f"{member}@{float(entered)!r}"


def add_visit(window: Mapping[str, Any] | None, vid: str, dwell_s: float) -> dict[str, Any]:
    """Window value {"visits": {vid: dwell_s}} with the visit added (or its dwell replaced)."""
    visits = dict(window["visits"]) if window else {}
    visits[vid] = float(dwell_s)
    return {"visits": visits}


def remove_visit(window: Mapping[str, Any] | None, vid: str) -> dict[str, Any]:
    """Window value without the visit; the same window when it did not count it."""
    if window is None:
        return {"visits": {}}
    if vid not in window["visits"]:
        return window  # type: ignore[return-value]
    visits = dict(window["visits"])
    del visits[vid]
    return {"visits": visits}


def window_summary(window: Mapping[str, Any] | None, start: float, size_s: float) -> dict[str, Any]:
    """{"start", "end", "visits", "dwell_total_s", "dwell_max_s"}; 0 / 0.0 when empty. The total is an
    exactly rounded sum (math.fsum), so it does not depend on the order the visits were added in."""
    dwells = list(window["visits"].values()) if window else []
    return {
        "start": start,
        "end": start + size_s,
        "visits": len(dwells),
        "dwell_total_s": math.fsum(dwells),
        "dwell_max_s": max(dwells, default=0.0),
    }


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


# -- deliveries: counting each event once under at-least-once delivery ------------------------------------
#
# Faust is at-least-once: after a crash the records since the last commit are read again, and the enrich stage
# may even publish an event twice, at two offsets of its enriched topic. Every enriched record names its
# delivery: `mist.source` = {topic, partition, offset} of the raw body, and the event's `index` in it. The
# records of one key that come from one raw partition reach the aggregates in (offset, index) order: the raw
# partition is read in order, the re-keying keeps the order of each key, and a re-read after a crash starts
# again from an earlier point, sending nothing before what it re-sends. So a value that remembers, per raw
# partition, the last delivery it counted (its watermarks) knows a delivery it already counted: it is at or
# below the watermark. Copies of one event in different bodies are different deliveries: the dedupe stage
# drops them upstream, by fingerprint.
#
# Only counting aggregates need watermarks (RSSI windows). The others are unchanged by a second application of
# the same event by construction: newest-wins values (locations, devices, alerts), the zone history (an event
# already in it is a duplicate), visit windows (keyed by visit id).

WATERMARKS = "_w"  # the field of a stored value holding its watermarks (a "_" field: never shown by the API)
Delivery = tuple[str, list[int]]  # ("<raw topic>:<partition>", [offset, index])


def delivery_of(event: Mapping[str, Any]) -> Delivery | None:
    """The delivery of an enriched record, from `mist.source`; None when it carries none."""
    source = (event.get("mist") or {}).get("source")
    if not isinstance(source, Mapping) or source.get("offset") is None:
        return None
    return f"{source.get('topic')}:{source.get('partition')}", [
        int(source["offset"]),
        int(source.get("index") or 0),
    ]


def delivered(marks: Mapping[str, list[int]] | None, delivery: Delivery | None) -> bool:
    """True when `delivery` is at or below the watermark of its raw partition: counted already."""
    if delivery is None or not marks:
        return False
    mark = marks.get(delivery[0])
    return mark is not None and list(delivery[1]) <= list(mark)


def mark_delivered(marks: Mapping[str, list[int]] | None, delivery: Delivery | None) -> dict[str, list[int]]:
    """The watermarks once `delivery` is counted (the same, copied, when there is no delivery)."""
    out = {k: list(v) for k, v in (marks or {}).items()}
    if delivery is not None:
        source, position = delivery
        if source not in out or list(position) > out[source]:
            out[source] = list(position)
    return out


def rssi_deliveries(
    mist_topic: str, event: Mapping[str, Any], size_s: float
) -> dict[tuple[str, float], list[tuple[str, float, float]]]:
    """The samples of one enriched RSSI event by window: {(mac, window start): [(ap, rssi, ts), ...]}."""
    out: dict[tuple[str, float], list[tuple[str, float, float]]] = {}
    for mac, ap, value, ts in rssi_samples(mist_topic, event):
        out.setdefault((mac, window_start(ts, size_s)), []).append((ap, value, ts))
    return out


def add_rssi_delivery(
    window: Mapping[str, Any] | None,
    samples: Iterable[tuple[str, float, float]],
    delivery: Delivery | None,
) -> dict[str, Any] | None:
    """The window value (as stored: with its watermarks) after the samples one delivery brings to it, or None
    when the window counted this delivery already. Without a delivery, the samples are always counted."""
    marks = window.get(WATERMARKS) if window else None
    if delivered(marks, delivery):
        return None
    out: dict[str, Any] = {k: v for k, v in (window or {}).items() if not k.startswith("_")}
    for ap, value, ts in samples:
        out = add_rssi_sample(out, ap, value, ts)
    out[WATERMARKS] = mark_delivered(marks, delivery)
    return out


def rssi_window_view(window: Mapping[str, Any] | None, start: float, size_s: float) -> dict[str, Any]:
    """{"start", "end", "aps": {ap: {"count", "sum", "min", "max", "last"}}}, APs in MAC order (the stored
    value's own "_" fields, its watermarks, are not APs)."""
    aps = {}
    for ap in sorted(k for k in window or () if not k.startswith("_")):
        s = window[ap]  # type: ignore[index]
        aps[ap] = {"count": s["count"], "sum": s["sum"], "min": s["min"], "max": s["max"], "last": s["last"]}
    return {"start": start, "end": start + size_s, "aps": aps}


# -- devices ---------------------------------------------------------------------------------------------
#
# Status mapping, conservative: only events about the device itself change its status. With <D> one of AP,
# SW, GW (the device kinds of device-updowns / device-events):
#   down: <D>_DISCONNECTED, <D>_DISCONNECTED_<anything> (e.g. AP_DISCONNECTED_LONG), <D>_DOWN
#   up:   <D>_CONNECTED, <D>_RECONNECTED, <D>_RESTARTED
# Everything else says nothing about up/down (None): ports and interfaces (SW_PORT_DOWN, AP_UPLINK_PORT_DOWN),
# neighbours and tunnels (GW_BGP_NEIGHBOR_DOWN, GW_VPN_PATH_DOWN, GW_TUNNEL_DOWN), configuration, upgrades,
# and commands not yet carried out (AP_RESTART_BY_USER). Types are matched case-insensitively.

_DEVICE_KINDS = ("AP", "SW", "GW")
_DEVICE_STATUS = {
    f"{kind}_{word}": status
    for kind in _DEVICE_KINDS
    for word, status in (
        ("DISCONNECTED", "down"),
        ("DOWN", "down"),
        ("CONNECTED", "up"),
        ("RECONNECTED", "up"),
        ("RESTARTED", "up"),
    )
}
_DISCONNECTED_PREFIXES = tuple(f"{kind}_DISCONNECTED_" for kind in _DEVICE_KINDS)
# At equal event times: an event with status beats one without, and "up" beats "down" (a device that
# disconnected and reconnected within one second is up). Then the type string.
_STATUS_RANK = {None: 0, "down": 1, "up": 2}
DEVICE_FIELDS = ("mac", "status", "last_type", "timestamp")


def device_mac(event: Mapping[str, Any]) -> str | None:
    """The device: `mac`, else `ap` (the deprecated AP-only spelling of device-updowns)."""
    return event.get("mac") or event.get("ap")


def device_status(event_type: str | None) -> str | None:
    """ "up", "down", or None when the event type says nothing about the device's status (see the mapping
    above)."""
    if not event_type:
        return None
    upper = event_type.upper()
    status = _DEVICE_STATUS.get(upper)
    if status is None and upper.startswith(_DISCONNECTED_PREFIXES):
        return "down"
    return status


def _device_order(ts: float | None, event_type: str | None) -> tuple:
    return (_nullable(ts), _STATUS_RANK[device_status(event_type)], event_type or "")


def apply_device_event(old: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The device's new status value, or None when `event` changes nothing.

    Value: {mac, status, last_type, timestamp, status_ts, status_type}. `last_type`/`timestamp` are those of
    the newest event by event time (equal times: status events first, "up" over "down", then the type).
    `status` ("up" | "down" | "unknown") comes from the newest event that says something about it: an event
    that says nothing carries the status over, and a first such event gives "unknown". `status_ts` and
    `status_type` record which event set the status: with them a late status event older than the newest
    event, but newer than the one that set the status, still counts, so the value is the same for any
    arrival order. None when the event is neither newer than the newest event nor (with a status) newer than
    the status event: older events and duplicates. The query API shows DEVICE_FIELDS (see `device_view`).
    """
    ts = float(event["timestamp"])
    event_type = event.get("type")
    status = device_status(event_type)
    order = _device_order(ts, event_type)
    if old is None:
        return {
            "mac": device_mac(event),
            "status": status or "unknown",
            "last_type": event_type,
            "timestamp": ts,
            "status_ts": ts if status else None,
            "status_type": event_type if status else None,
        }
    newest = order > _device_order(old["timestamp"], old["last_type"])
    sets_status = status is not None and (
        old.get("status_ts") is None or order > _device_order(old["status_ts"], old.get("status_type"))
    )
    if not newest and not sets_status:
        return None
    return {
        "mac": old.get("mac") or device_mac(event),
        "status": status if sets_status else old["status"],
        "last_type": event_type if newest else old["last_type"],
        "timestamp": ts if newest else old["timestamp"],
        "status_ts": ts if sets_status else old.get("status_ts"),
        "status_type": event_type if sets_status else old.get("status_type"),
    }


def device_view(value: Mapping[str, Any]) -> dict[str, Any]:
    """What GET /v1/devices/{mac}/status answers: {mac, status, last_type, timestamp}."""
    return {f: value.get(f) for f in DEVICE_FIELDS}


# -- occupancy alerts ------------------------------------------------------------------------------------

ALERT_FIELDS = (
    "zone_id",
    "zone_name",
    "map_id",
    "site_id",
    "type",
    "current_occupancy",
    "occupancy_limit",
    "timestamp",
)
_ALERT_ORDER = (
    "timestamp",
    "type",
    "current_occupancy",
    "occupancy_limit",
    "zone_name",
    "map_id",
    "site_id",
    "zone_id",
)


def occupancy_alerts(event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(zone_id, alert) per item of an occupancy-alerts event's `alert_events`; `type` as Mist spells it
    (COMPLIANCE-OK / COMPLIANCE-VIOLATION), `site_id` from the event. Items without a zone are skipped."""
    site_id = event.get("site_id")
    out = []
    for item in event.get("alert_events") or ():
        zone_id = item.get("zone_id")
        if not zone_id:
            continue
        ts = item.get("timestamp")
        out.append(
            (
                zone_id,
                {
                    "zone_id": zone_id,
                    "zone_name": item.get("zone_name"),
                    "map_id": item.get("map_id"),
                    "site_id": item.get("site_id") or site_id,
                    "type": item.get("type"),
                    "current_occupancy": item.get("current_occupancy"),
                    "occupancy_limit": item.get("occupancy_limit"),
                    "timestamp": float(ts) if ts is not None else None,
                },
            )
        )
    return out


def newer_alert(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when `new` replaces `old`: the newest by timestamp; ties broken on the content (type, then the
    counts), so the winner does not depend on arrival order; an identical alert is not newer."""
    if old is None:
        return True
    return _content_key(new, _ALERT_ORDER) > _content_key(old, _ALERT_ORDER)
