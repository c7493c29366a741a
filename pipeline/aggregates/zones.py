"""Zone occupancy, visits and dwell times: enter/exit events per zone and member, visits per window."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pipeline.aggregates.windows import window_start
from pipeline.state import State, suffix_of

ZONE_TOPICS = frozenset({"zone", "rssizone"})

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


class Zones:
    """Who is in each zone (and RSSI zone) of a site, and its visits: per zone and member, the history of
    enters and exits (`apply_zone_event`); per zone, tumbling windows of visits by their exit. Completed
    visits are published to `mist.zone.visits`, retracted when a late event changes them."""

    topics = ZONE_TOPICS

    def __init__(
        self,
        members: State,
        windows: State,
        publish: Callable[[str, str, dict[str, Any], float], None],
        horizon_s: float,
        window_s: float,
        on_ignored: Callable[[str, int], None] | None = None,
    ) -> None:
        self.members = members  # zone|member -> {member, type, history, base, visits, ignored_exits, zone}
        self.windows = windows  # zone|start -> {"visits": {visit id: dwell}}
        self.publish = publish  # (topic, key, record, event time)
        self.horizon_s = horizon_s
        self.window_s = window_s
        self.on_ignored = on_ignored
        self.seen: dict[str, dict[str, Any]] = {}  # zone id -> name, site, map (from events)

    @property
    def states(self) -> tuple[State, ...]:
        return (self.members, self.windows)

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        zone_id = zone_key(event)
        member = zone_member(event)
        ts = event.get("timestamp")
        if not zone_id or not member or ts is None:
            return
        zone = {
            "name": (event.get("zone") or {}).get("name"),
            "site_id": event.get("site_id"),
            "map_id": event.get("map_id"),
        }
        self.seen[zone_id] = zone
        key = f"{zone_id}|{member}"
        stored = self.members.get(partition, key)
        old = None if stored is None else {k: v for k, v in stored.items() if k != "zone" and k[0] != "_"}
        state, added, removed, ignored = apply_zone_event(
            old, member, event.get("type") or "", ts, event["trigger"], self.horizon_s
        )
        if state == old:
            # A duplicate, or later than the horizon allows. A member restored after a crash may have reached
            # its changelog without the windows (two tables): its visits are counted there (or already were).
            for visit in (old or {}).get("visits", ()):
                self._change_window(partition, zone_id, visit, member, True, wall)
            return
        state["zone"] = zone
        for visit in removed:
            self._change_window(partition, zone_id, visit, member, False, wall)
        for visit in added:
            self._change_window(partition, zone_id, visit, member, True, wall)
        self.members.put(partition, key, state, wall)
        if ignored > 0 and self.on_ignored is not None:  # negative when a late enter pairs an ignored exit
            self.on_ignored(mist_topic, ignored)
        for visit in removed:
            self._publish(zone_id, zone, member, state, visit, retracted=True)
        for visit in added:
            self._publish(zone_id, zone, member, state, visit, retracted=False)

    def _publish(
        self, zone_id: str, zone: dict, member: str, state: dict, visit: list, retracted: bool
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
        self.publish("visits", zone_id, record, exited)

    def _change_window(
        self, partition: int, zone_id: str, visit: list, member: str, add: bool, wall: float
    ) -> None:
        """Add (or remove) a visit in the window of its exit; idempotent: a visit is keyed by its id."""
        entered, exited = visit
        key = f"{zone_id}|{window_start(exited, self.window_s)}"
        current = self.windows.get(partition, key)
        vid = visit_id(member, entered)
        if add:
            if current is not None and current["visits"].get(vid) == float(exited - entered):
                return  # counted already
            updated = add_visit(current, vid, exited - entered)
        else:
            if current is None or vid not in current["visits"]:
                return
            updated = remove_visit(current, vid)
        self.windows.put(partition, key, updated, wall)

    def occupancy(self, partition: int, zone_id: str) -> tuple[list[dict[str, Any]], int, bool]:
        """(members inside, exits ignored, whether the zone has any member state) of a zone here."""
        inside_now, ignored = [], 0
        keys = self.members.keys_of(partition, zone_id)
        for key in keys:
            state = self.members.get(partition, key)
            if state is None:
                continue
            ignored += state.get("ignored_exits", 0)
            inside, entered = zone_membership(state)
            if inside:
                inside_now.append({"member": state["member"], "type": state.get("type"), "entered": entered})
        return inside_now, ignored, bool(keys)

    def visit_windows(self, partition: int, zone_id: str) -> list[dict[str, Any]]:
        out = []
        for key in self.windows.keys_of(partition, zone_id):
            value = self.windows.get(partition, key)
            if value is not None:
                out.append(window_summary(value, float(suffix_of(key)), self.window_s))
        return out
