"""aggregate: the pure table logic - locations, zones and visits, RSSI windows, devices, occupancy alerts.

Samples are parsed (pipeline.parse) and enriched (pipeline.enrich) the way the worker does it, so the
functions see the records they will see in production. Order independence is checked with hypothesis over
permutations.
"""

from __future__ import annotations

import copy
import itertools
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import MIST_API, MIST_SAMPLES

from pipeline.aggregates.alerts import newer_alert, occupancy_alerts
from pipeline.aggregates.devices import apply_device_event, device_mac, device_status, device_view
from pipeline.aggregates.locations import LOCATION_FIELDS, location_key, location_record, newer_location
from pipeline.aggregates.rssi import add_rssi_sample, rssi_samples, rssi_window_view
from pipeline.aggregates.windows import window_start
from pipeline.aggregates.zones import (
    add_visit,
    apply_zone_event,
    remove_visit,
    visit_id,
    visit_record,
    window_summary,
    zone_key,
    zone_member,
    zone_membership,
)
from pipeline.enrich import enrich
from pipeline.parse import parse_body

SITE_ID = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP_ID = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE_ID = "8ac84899-32db-6327-334c-9b6d58544cfe"
RSSIZONE_ID = "e38f8e76-40db-4144-9a1f-3c5d7e9b2a10"
PPM = 40.94
RECEIVED_AT_MS = 1749106730000
BIG = 1e9  # a horizon nothing falls behind

PROPS = settings(max_examples=150, deadline=None)


def by_id(name: str) -> dict[str, dict]:
    return {obj["id"]: obj for obj in orjson.loads((MIST_API / name).read_bytes())}


SITES = by_id("GET_orgs_org_id_sites.json")
MAPS = by_id("GET_sites_site_id_maps.json")
ZONES = by_id("GET_sites_site_id_zones.json")


def enriched(topic: str) -> list[dict]:
    """The sample's events as the worker publishes them on mist.<topic>.enriched."""
    result = parse_body((MIST_SAMPLES / f"{topic}.json").read_bytes())
    assert result.dead == []
    out = []
    for parsed in result.events:
        extra, missing = enrich(topic, parsed.event, SITES, MAPS, ZONES)
        record = {**parsed.event, **extra}
        record["mist"] = {
            "topic": topic,
            "enriched": not missing,
            "missing": missing,
            "source": {},
            "received_at_ms": RECEIVED_AT_MS,
        }
        out.append(record)
    return out


def roundtrip(value):
    return orjson.loads(orjson.dumps(value))


# -- locations -------------------------------------------------------------------------------------------

EXPECTED_LOCATIONS = {
    "location": [
        ("7fc2936fd243", "asset", 13.5, 3.2, 1749106728.0),
        ("5684dae9ac8b", "wifi", 22.07, 17.4, 1749106729.0),
        ("de87bf9d-183f-e383-cc68-6ba43947d403", "sdk", 8.31, 30.02, 1749106730.0),
    ],
    "location-asset": [("7fc2936fd243", "asset", 13.5, 3.2, 1749106728.0)],
    "location-centrak": [("5684dae9ac8b", "wifi", 13.5, 3.2, 1749106728.0)],
    "location-client": [("5684dae9ac8b", "wifi", 22.07, 17.4, 1749106728.5)],
    "location-sdk": [("de87bf9d-183f-e383-cc68-6ba43947d403", "sdk", 8.31, 30.02, 1749106728.0)],
    "location-unclient": [("d2a6f1c03b7e", "wifi", 4.62, 28.9, 1749106728.8)],
}


@pytest.mark.parametrize("topic", sorted(EXPECTED_LOCATIONS))
def test_location_records_of_samples(topic):
    events = enriched(topic)
    assert len(events) == len(EXPECTED_LOCATIONS[topic])
    for event, (key, type_, x, y, ts) in zip(events, EXPECTED_LOCATIONS[topic], strict=True):
        assert location_key(event) == key
        record = location_record(topic, event)
        assert tuple(record) == LOCATION_FIELDS
        assert record == {
            "key": key,
            "type": type_,
            "site_id": SITE_ID,
            "site_name": "Mist Office",
            "map_id": MAP_ID,
            "map_name": "Floor 1",
            "x": x,
            "y": y,
            "x_px": pytest.approx(x * PPM),
            "y_px": pytest.approx(y * PPM),
            "timestamp": ts,
        }
        assert roundtrip(record) == record
        assert newer_location(None, record)
        assert not newer_location(record, record)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("location-sdk", "sdk"),
        ("location-asset", "asset"),
        ("location-client", "wifi"),
        ("location-unclient", "wifi"),
        ("location-centrak", None),
    ],
)
def test_location_type_defaults_by_topic(topic, expected):
    event = {k: v for k, v in enriched(topic)[0].items() if k != "type"}
    assert location_record(topic, event)["type"] == expected
    # The event's own type wins when it has one.
    assert location_record(topic, {**event, "type": "other"})["type"] == "other"


def test_location_record_without_reference_data():
    event = {"mac": "aabbccddeeff", "site_id": "s", "map_id": "m", "x": 1, "y": 2, "timestamp": 5}
    record = location_record("location-client", event)
    assert record == {
        "key": "aabbccddeeff",
        "type": "wifi",
        "site_id": "s",
        "site_name": None,
        "map_id": "m",
        "map_name": None,
        "x": 1,
        "y": 2,
        "x_px": None,
        "y_px": None,
        "timestamp": 5.0,
    }
    with pytest.raises(ValueError):
        location_key({"x": 1})


def test_newer_location_by_event_time_then_content():
    base = location_record("location-client", enriched("location-client")[0])
    later = {**base, "timestamp": base["timestamp"] + 1, "x": 0.0}
    assert newer_location(base, later)
    assert not newer_location(later, base)
    # Equal times: a deterministic winner, the same whichever is first.
    moved = {**base, "x": base["x"] + 1}
    assert newer_location(base, moved) != newer_location(moved, base)
    # Without a timestamp a record loses to any that has one.
    untimed = {**base, "timestamp": None}
    assert newer_location(untimed, base)
    assert not newer_location(base, untimed)


location_records = st.builds(
    lambda ts, x, y, m, t: {
        "key": "aabbccddeeff",
        "type": t,
        "site_id": SITE_ID,
        "site_name": "Mist Office",
        "map_id": m,
        "map_name": None,
        "x": x,
        "y": y,
        "x_px": None if x is None else x * 2,
        "y_px": None,
        "timestamp": ts,
    },
    st.one_of(st.none(), st.integers(0, 4).map(float)),
    st.one_of(st.none(), st.sampled_from([0.0, 1.5, 3.0])),
    st.sampled_from([0.0, 2.0]),
    st.sampled_from(["map-a", "map-b", None]),
    st.sampled_from(["wifi", "asset"]),
)


def last_location(records):
    current = None
    for record in records:
        if newer_location(current, record):
            current = record
    return current


@PROPS
@given(st.lists(location_records, min_size=1, max_size=8), st.data())
def test_location_newest_wins_over_any_permutation(records, data):
    expected = last_location(records)
    assert expected["timestamp"] == max(
        (r["timestamp"] for r in records if r["timestamp"] is not None), default=None
    )
    shuffled = data.draw(st.permutations(records))
    assert last_location(shuffled) == expected
    assert last_location([roundtrip(r) for r in reversed(records)]) == expected


# -- zones: scenarios ------------------------------------------------------------------------------------


def zone(events, horizon=BIG, state=None, member="5684dae9ac8b", member_type="wifi"):
    """Apply (ts, trigger) events in the given order; also play the consumer of the deltas."""
    visits: set[tuple[float, float]] = set()
    ignored = 0
    for ts, trigger in events:
        before = copy.deepcopy(state)
        state, added, removed, delta = apply_zone_event(state, member, member_type, ts, trigger, horizon)
        assert before is None or state is not None
        for visit in removed:
            visits.remove(tuple(visit))
        for visit in added:
            assert tuple(visit) not in visits
            visits.add(tuple(visit))
        ignored += delta
        check_zone_state(state, horizon)
    return state, visits, ignored


def check_zone_state(state, horizon):
    history = state["history"]
    assert history == sorted(history)
    assert all(a != b for a, b in itertools.pairwise(history))
    assert all(trigger in ("enter", "exit") for _, trigger in history)
    assert history and history[0][0] >= history[-1][0] - horizon
    assert state["ignored_exits"] >= 0
    assert roundtrip(state) == state


def test_repeated_enter_changes_nothing():
    state, added, removed, delta = apply_zone_event(None, "m", "wifi", 10, "enter", BIG)
    assert (added, removed, delta) == ([], [], 0)
    assert zone_membership(state) == (True, 10.0)
    again, added, removed, delta = apply_zone_event(state, "m", "wifi", 20, "enter", BIG)
    assert (added, removed, delta) == ([], [], 0)
    assert zone_membership(again) == (True, 10.0)
    assert again["visits"] == []
    final, added, removed, delta = apply_zone_event(again, "m", "wifi", 30, "exit", BIG)
    assert (added, removed, delta) == ([[10.0, 30.0]], [], 0)
    assert zone_membership(final) == (False, None)


def test_duplicate_event_returns_the_same_state():
    state, *_ = apply_zone_event(None, "m", "wifi", 10, "enter", BIG)
    same, added, removed, delta = apply_zone_event(state, "m", "wifi", 10.0, "enter", BIG)
    assert same is state
    assert (added, removed, delta) == ([], [], 0)


def test_exit_without_enter_is_ignored_and_counted():
    state, added, removed, delta = apply_zone_event(None, "m", "wifi", 5, "exit", BIG)
    assert (added, removed, delta) == ([], [], 1)
    assert state["ignored_exits"] == 1
    assert zone_membership(state) == (False, None)
    state, _, _, delta = apply_zone_event(state, "m", "wifi", 6, "exit", BIG)
    assert delta == 1
    assert state["ignored_exits"] == 2


def test_out_of_order_exit_then_enter_pairs_by_event_time():
    state, _, _, delta = apply_zone_event(None, "m", "wifi", 30, "exit", BIG)
    assert delta == 1  # for now, an exit without an enter
    state, added, removed, delta = apply_zone_event(state, "m", "wifi", 10, "enter", BIG)
    assert (added, removed, delta) == ([[10.0, 30.0]], [], -1)
    assert state["ignored_exits"] == 0
    assert zone_membership(state) == (False, None)


def test_late_exit_changes_a_reported_visit():
    state, visits, ignored = zone([(10, "enter"), (30, "exit")])
    assert (visits, ignored) == ({(10.0, 30.0)}, 0)
    state, added, removed, delta = apply_zone_event(state, "5684dae9ac8b", "wifi", 20, "exit", BIG)
    assert removed == [[10.0, 30.0]]
    assert added == [[10.0, 20.0]]
    assert delta == 1
    assert state["visits"] == [[10.0, 20.0]]
    assert state["ignored_exits"] == 1


def test_late_enter_after_a_visit_starts_a_stay():
    state, visits, _ = zone([(10, "enter"), (20, "exit"), (40, "exit"), (30, "enter")])
    assert visits == {(10.0, 20.0), (30.0, 40.0)}
    assert state["ignored_exits"] == 0
    assert zone_membership(state) == (False, None)


@pytest.mark.parametrize("order", [[(10, "enter"), (10, "exit")], [(10, "exit"), (10, "enter")]])
def test_enter_and_exit_at_the_same_instant_make_a_zero_length_visit(order):
    state, visits, ignored = zone(order)
    assert visits == {(10.0, 10.0)}
    assert ignored == 0
    assert state["ignored_exits"] == 0
    assert state["history"] == [[10.0, "enter"], [10.0, "exit"]]
    assert zone_membership(state) == (False, None)


def test_horizon_folds_old_history_into_base_and_ignores_later_arrivals():
    state, visits, _ = zone([(0, "enter"), (50, "exit"), (60, "enter")], horizon=100)
    assert visits == {(0.0, 50.0)}
    assert len(state["history"]) == 3
    state, added, removed, delta = apply_zone_event(state, "m", "wifi", 200, "exit", 100)
    # Cut at 100: the first three entries are folded, their visit [0, 50] is final and leaves the state.
    assert added == [[60.0, 200.0]] and removed == [] and delta == 0
    assert state["history"] == [[200.0, "exit"]]
    assert state["base"] == {"inside": True, "entered": 60.0}
    assert state["visits"] == [[60.0, 200.0]]
    # An event older than the cut is ignored: the same state back, nothing reported.
    same, added, removed, delta = apply_zone_event(state, "m", "wifi", 99.5, "exit", 100)
    assert same is state and (added, removed, delta) == ([], [], 0)
    # At the cut exactly it still counts, and may change the visit whose enter was folded.
    state, added, removed, delta = apply_zone_event(state, "m", "wifi", 100, "exit", 100)
    assert removed == [[60.0, 200.0]] and added == [[60.0, 100.0]] and delta == 1
    assert state["base"] == {"inside": True, "entered": 60.0}
    assert state["ignored_exits"] == 1


def test_membership_of_a_stay_whose_enter_was_folded():
    state, _, _ = zone([(0, "enter"), (150, "enter")], horizon=100)
    assert state["history"] == [[150.0, "enter"]]
    assert state["base"] == {"inside": True, "entered": 0.0}
    assert zone_membership(state) == (True, 0.0)


def test_ignored_exit_count_survives_folding():
    state, _, ignored = zone([(0, "exit"), (10, "exit"), (500, "enter")], horizon=100)
    assert state["history"] == [[500.0, "enter"]]
    assert state["ignored_exits"] == ignored == 2


def test_zone_event_does_not_mutate_its_input_and_rejects_bad_triggers():
    state, _, _ = zone([(10, "enter"), (30, "exit"), (40, "enter")])
    frozen = copy.deepcopy(state)
    apply_zone_event(state, "5684dae9ac8b", "wifi", 20, "exit", BIG)
    apply_zone_event(state, "5684dae9ac8b", "wifi", 1000, "exit", 5)
    assert state == frozen
    with pytest.raises(ValueError):
        apply_zone_event(state, "5684dae9ac8b", "wifi", 50, "ENTER", BIG)


def test_member_type_follows_the_newest_event():
    state, *_ = apply_zone_event(None, "m", "wifi", 10, "enter", BIG)
    state, *_ = apply_zone_event(state, "m", "asset", 5, "exit", BIG)
    assert state["type"] == "wifi"
    state, *_ = apply_zone_event(state, "m", "asset", 20, "exit", BIG)
    assert state["type"] == "asset"


def test_zone_samples():
    events = enriched("zone")
    states: dict[tuple[str, str], dict] = {}
    reported = []
    for event in events:
        key = (zone_key(event), zone_member(event))
        state, added, removed, _ = apply_zone_event(
            states.get(key), key[1], event["type"], event["timestamp"], event["trigger"], 3600
        )
        assert removed == []
        states[key] = state
        reported += [visit_record(key[0], key[1], v) for v in added]
    assert set(states) == {
        (ZONE_ID, "de87bf9d-183f-e383-cc68-6ba43947d403"),
        (ZONE_ID, "5684dae9ac8b"),
        (ZONE_ID, "7fc2936fd243"),
    }
    assert zone_membership(states[ZONE_ID, "7fc2936fd243"]) == (True, 1749106728.0)
    assert states[ZONE_ID, "7fc2936fd243"]["type"] == "asset"
    assert zone_membership(states[ZONE_ID, "de87bf9d-183f-e383-cc68-6ba43947d403"]) == (
        True,
        1749106728.0,
    )
    assert zone_membership(states[ZONE_ID, "5684dae9ac8b"]) == (False, None)
    assert reported == [
        {
            "zone": ZONE_ID,
            "member": "5684dae9ac8b",
            "entered": 1749106728.0,
            "exited": 1749107068.0,
            "dwell_s": 340.0,
        }
    ]
    # An asset without a mac is a member by its asset_id.
    assert zone_member({"asset_id": "a1", "zone_id": "z"}) == "a1"


def test_rssizone_sample():
    (event,) = enriched("rssizone")
    assert zone_key(event) == RSSIZONE_ID
    assert zone_member(event) == "500291a1b2c3"
    state, *_ = apply_zone_event(None, "500291a1b2c3", "wifi", event["timestamp"], event["trigger"], 60)
    assert zone_membership(state) == (True, 1749106728.986472)


# -- zones: order independence ---------------------------------------------------------------------------


def reference(events):
    """Membership, visits and ignored exits from the set of events, sorted by (ts, enter before exit)."""
    inside, entered, visits, ignored = False, None, set(), 0
    for ts, trigger in sorted({(float(ts), trigger) for ts, trigger in events}):
        if trigger == "enter":
            if not inside:
                inside, entered = True, ts
        elif inside:
            visits.add((entered, ts))
            inside, entered = False, None
        else:
            ignored += 1
    return (inside, entered), visits, ignored


zone_events = st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["enter", "exit"])), max_size=12)


@PROPS
@given(zone_events, st.data())
def test_zone_result_is_the_same_for_any_arrival_order(events, data):
    membership, visits, ignored = reference(events)
    for order in (events, data.draw(st.permutations(events)), list(reversed(events))):
        state, reported, total = zone(order)
        if not order:
            continue
        assert zone_membership(state) == membership
        assert {tuple(v) for v in state["visits"]} == visits
        assert reported == visits  # what the deltas said adds up to the state
        assert state["ignored_exits"] == total == ignored


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["enter", "exit"])), min_size=1, max_size=5))
def test_zone_result_is_the_same_for_every_permutation(events):
    expected = reference(events)
    for order in itertools.permutations(events):
        state, reported, total = zone(order)
        assert (zone_membership(state), reported, total) == expected
        assert state["ignored_exits"] == expected[2]


@PROPS
@given(zone_events, st.data())
def test_zone_state_survives_a_json_round_trip_at_every_step(events, data):
    order = data.draw(st.permutations(events))
    plain, _, _ = zone(order)
    state = None
    for ts, trigger in order:
        state, *_ = apply_zone_event(roundtrip(state), "5684dae9ac8b", "wifi", ts, trigger, BIG)
    assert state == plain


@PROPS
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["enter", "exit"])), max_size=15), st.data())
def test_zone_horizon_any_order(events, data):
    """With a horizon, an event later than it is dropped; the rest count exactly as if alone."""
    horizon = 5
    order = data.draw(st.permutations(events))
    accepted, newest = [], None
    for ts, trigger in order:
        if newest is None or ts >= newest - horizon:
            accepted.append((ts, trigger))
            newest = ts if newest is None else max(newest, ts)
    state, reported, total = zone(order, horizon=horizon)
    if not order:
        return
    membership, visits, ignored = reference(accepted)
    assert zone_membership(state) == membership
    assert reported == visits
    assert {tuple(v) for v in state["visits"]} <= visits
    assert state["ignored_exits"] == total == ignored


@PROPS
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["enter", "exit"])), max_size=15))
def test_zone_horizon_in_time_order_loses_nothing(events):
    """Events in event-time order (ties in the drawn order) are never late: folding changes no result."""
    order = sorted(events, key=lambda e: e[0])
    state, reported, total = zone(order, horizon=3)
    if not order:
        return
    membership, visits, ignored = reference(events)
    assert zone_membership(state) == membership
    assert reported == visits
    assert total == ignored == state["ignored_exits"]


# -- visit windows ---------------------------------------------------------------------------------------


def test_window_start():
    assert window_start(1749106728.5, 900) == 1749105900.0
    assert window_start(1749105900, 900) == 1749105900.0
    assert window_start(1749106799.999, 900) == 1749105900.0
    assert window_start(1749106800, 900) == 1749106800.0
    assert window_start(59.9, 60) == 0.0
    assert isinstance(window_start(120, 60), float)
    for ts in (0.1, 0.7, 1e9 + 0.3, 1749106728.986472):
        for size in (0.1, 1, 60, 900, 3600):
            start = window_start(ts, size)
            assert start <= ts < start + size


def test_visit_id_is_stable():
    assert visit_id("5684dae9ac8b", 1749106728) == visit_id("5684dae9ac8b", 1749106728.0)
    assert visit_id("m", 10.5) != visit_id("m", 10.25)
    assert visit_id("m", 10.5) != visit_id("n", 10.5)


def test_visit_windows():
    empty = window_summary(None, 900.0, 900)
    assert empty == {"start": 900.0, "end": 1800.0, "visits": 0, "dwell_total_s": 0.0, "dwell_max_s": 0.0}
    window = add_visit(None, "a@1.0", 30)
    frozen = copy.deepcopy(window)
    window2 = add_visit(window, "b@2.0", 12.5)
    assert window == frozen  # not mutated
    assert window2 == {"visits": {"a@1.0": 30.0, "b@2.0": 12.5}}
    assert add_visit(window2, "a@1.0", 30) == window2  # idempotent
    assert window_summary(window2, 0.0, 900) == {
        "start": 0.0,
        "end": 900.0,
        "visits": 2,
        "dwell_total_s": 42.5,
        "dwell_max_s": 30.0,
    }
    removed = remove_visit(window2, "a@1.0")
    assert removed == {"visits": {"b@2.0": 12.5}}
    assert window2 == {"visits": {"a@1.0": 30.0, "b@2.0": 12.5}}
    assert remove_visit(removed, "zzz") is removed
    assert remove_visit(None, "zzz") == {"visits": {}}
    assert window_summary(remove_visit(removed, "b@2.0"), 0.0, 900)["visits"] == 0
    assert window_summary(roundtrip(window2), 0.0, 900) == window_summary(window2, 0.0, 900)


def test_late_exit_moves_a_visit_between_windows():
    """The consumer's side: visits_removed first, then visits_added, each in the window of its exit."""
    size = 60.0
    windows: dict[float, dict] = {}

    def consume(state, ts, trigger):
        state, added, removed, _ = apply_zone_event(state, "m", "wifi", ts, trigger, BIG)
        for entered, exited in removed:
            start = window_start(exited, size)
            windows[start] = remove_visit(windows.get(start), visit_id("m", entered))
        for entered, exited in added:
            start = window_start(exited, size)
            windows[start] = add_visit(windows.get(start), visit_id("m", entered), exited - entered)
        return state

    state = consume(None, 10, "enter")
    state = consume(state, 70, "exit")
    assert window_summary(windows[60.0], 60.0, size)["dwell_total_s"] == 60.0
    consume(state, 40, "exit")
    assert window_summary(windows[60.0], 60.0, size)["visits"] == 0
    assert window_summary(windows[0.0], 0.0, size) == {
        "start": 0.0,
        "end": 60.0,
        "visits": 1,
        "dwell_total_s": 30.0,
        "dwell_max_s": 30.0,
    }


@PROPS
@given(st.lists(st.floats(0, 1e5, allow_nan=False), max_size=20), st.data())
def test_window_summary_is_order_independent(dwells, data):
    def window_of(items):
        window = None
        for i, dwell in items:
            window = add_visit(window, f"m@{i}", dwell)
        return window_summary(window, 0.0, 900)

    items = list(enumerate(dwells))
    assert window_of(data.draw(st.permutations(items))) == window_of(items)
    assert window_of(items)["dwell_total_s"] == math.fsum(dwells)


# -- RSSI ------------------------------------------------------------------------------------------------

EXPECTED_SAMPLES = {
    "discovered-raw-rssi": [
        ("ed2cc53f2770", "5c5b350e55c8", -79.0, 1749106728.25),
        ("ed2cc53f2770", "5c5b35513227", -86.0, 1749106728.31),
    ],
    "asset-raw": [
        ("7fc2936fd243", "5c5b350e55c8", -71.0, 1749106728.12),
        ("7fc2936fd243", "5c5b35513227", -83.0, 1749106728.14),
    ],
    "asset-raw-rssi": [
        ("7fc2936fd243", "5c5b350e55c8", -79.0, 1749106728.0),
        ("7fc2936fd243", "5c5b35513227", -74.0, 1749106728.0),
    ],
    "sdkclient-scan-data": [
        ("70ef0071535f", "5c5b352f587e", -87.0, 1749106728.0),
        ("70ef0071535f", "5c5b352f587e", -75.0, 1749106728.0),
    ],
}


@pytest.mark.parametrize("topic", sorted(EXPECTED_SAMPLES))
def test_rssi_samples_of_samples(topic):
    samples = [s for event in enriched(topic) for s in rssi_samples(topic, event)]
    assert samples == EXPECTED_SAMPLES[topic]
    for _, _, rssi, ts in samples:
        assert isinstance(rssi, float) and isinstance(ts, float)


@pytest.mark.parametrize("topic", ["wifi-conn-raw", "wifi-unconn-raw", "location", "zone"])
def test_rssi_samples_of_other_topics_are_none(topic):
    assert all(rssi_samples(topic, event) == [] for event in enriched(topic))


def test_rssi_sample_fallbacks():
    event = {"mac": "ed2cc53f2770", "rssi": -60, "timestamp": 100}
    assert rssi_samples("asset-raw-rssi", {**event, "ap": "5C:5B:35:0E:55:C8"}) == [
        ("ed2cc53f2770", "5c5b350e55c8", -60.0, 100.0)
    ]
    # device_id wins over ap; a device_id not ending in a MAC falls back to ap.
    both = {**event, "device_id": "x-5C5B35513227", "ap": "5c5b350e55c8"}
    assert [s[1] for s in rssi_samples("asset-raw-rssi", both)] == ["5c5b35513227"]
    fallback = {**event, "device_id": "weird", "ap": "5c5b350e55c8"}
    assert [s[1] for s in rssi_samples("asset-raw-rssi", fallback)] == ["5c5b350e55c8"]
    # Neither a MAC: the AP is named as received (parsing let an identity of the wrong form through).
    odd = {**event, "device_id": "weird", "ap": "not-a-mac"}
    assert [s[1] for s in rssi_samples("asset-raw-rssi", odd)] == ["weird"]
    assert rssi_samples("asset-raw-rssi", event) == []  # no AP
    with_ap = {**event, "ap": "5c5b350e55c8"}
    assert rssi_samples("asset-raw-rssi", {**with_ap, "rssi": None}) == []
    # No timestamp: the ingest time.
    untimed = {k: v for k, v in with_ap.items() if k != "timestamp"}
    assert rssi_samples("asset-raw-rssi", untimed) == []
    assert rssi_samples("asset-raw-rssi", {**untimed, "mist": {"received_at_ms": 1500}}) == [
        ("ed2cc53f2770", "5c5b350e55c8", -60.0, 1.5)
    ]
    scan = {
        "mac": "70ef0071535f",
        "last_seen": 50,
        "scan_data": [
            {"ap": "5c5b352f587e", "rssi": -70},  # no timestamp: last_seen
            {"ap": "5c5b352f587e", "rssi": None, "timestamp": 51},  # no rssi: skipped
            {"rssi": -40, "timestamp": 51},  # no ap: skipped
            {"ap": "5c5b352f5880", "rssi": -65.5, "timestamp": 52},
        ],
    }
    assert rssi_samples("sdkclient-scan-data", scan) == [
        ("70ef0071535f", "5c5b352f587e", -70.0, 50.0),
        ("70ef0071535f", "5c5b352f5880", -65.5, 52.0),
    ]
    assert rssi_samples("sdkclient-scan-data", {"mac": "70ef0071535f", "last_seen": 1}) == []


def rssi_window(samples, start=None):
    window = start
    for ap, rssi, ts in samples:
        window = add_rssi_sample(window, ap, rssi, ts)
    return window


def test_rssi_window_of_samples():
    samples = [
        (ap, rssi, ts)
        for topic in ("sdkclient-scan-data", "discovered-raw-rssi")
        for event in enriched(topic)
        for _, ap, rssi, ts in rssi_samples(topic, event)
    ]
    window = rssi_window(samples)
    assert window["5c5b352f587e"] == {
        "count": 2,
        "sum": -162.0,
        "min": -87.0,
        "max": -75.0,
        "last": -75.0,  # both at the same time: the larger
        "last_ts": 1749106728.0,
    }
    start = window_start(1749106728.0, 60)
    view = rssi_window_view(window, start, 60)
    assert view == {
        "start": 1749106680.0,
        "end": 1749106740.0,
        "aps": {
            "5c5b350e55c8": {"count": 1, "sum": -79.0, "min": -79.0, "max": -79.0, "last": -79.0},
            "5c5b352f587e": {"count": 2, "sum": -162.0, "min": -87.0, "max": -75.0, "last": -75.0},
            "5c5b35513227": {"count": 1, "sum": -86.0, "min": -86.0, "max": -86.0, "last": -86.0},
        },
    }
    assert list(view["aps"]) == sorted(view["aps"])
    assert rssi_window_view(None, 0.0, 60) == {"start": 0.0, "end": 60.0, "aps": {}}
    # Round-tripped, the window is accepted and grows the same way.
    assert rssi_window([("5c5b350e55c8", -50, 1749106729)], roundtrip(window)) == rssi_window(
        [("5c5b350e55c8", -50, 1749106729)], window
    )


def test_add_rssi_sample_does_not_mutate():
    window = rssi_window([("a", -70, 1), ("b", -60, 2)])
    frozen = copy.deepcopy(window)
    newer = add_rssi_sample(window, "a", -50, 3)
    assert window == frozen
    assert newer["a"]["last"] == -50.0 and newer["a"]["count"] == 2
    assert newer["b"] == window["b"]
    older = add_rssi_sample(newer, "a", -40, 0)
    assert (older["a"]["last"], older["a"]["last_ts"], older["a"]["max"]) == (-50.0, 3.0, -40.0)


aps = st.sampled_from(["5c5b350e55c8", "5c5b35513227", "5c5b352f587e"])


def expected_rssi(samples):
    out = {}
    for ap in {s[0] for s in samples}:
        mine = [(float(ts), float(rssi)) for a, rssi, ts in samples if a == ap]
        last_ts, last = max(mine)
        values = [r for _, r in mine]
        out[ap] = {
            "count": len(mine),
            "sum": sum(values),
            "min": min(values),
            "max": max(values),
            "last": last,
            "last_ts": last_ts,
        }
    return out


@PROPS
@given(
    st.lists(st.tuples(aps, st.integers(-100, -20), st.integers(0, 5)), min_size=1, max_size=15), st.data()
)
def test_rssi_window_is_the_same_for_any_arrival_order(samples, data):
    expected = expected_rssi(samples)
    assert rssi_window(samples) == expected
    assert rssi_window(data.draw(st.permutations(samples))) == expected
    assert rssi_window(reversed(samples)) == expected


@PROPS
@given(
    st.lists(
        st.tuples(aps, st.floats(-110, 0, allow_nan=False), st.floats(0, 10, allow_nan=False)),
        min_size=1,
        max_size=15,
    ),
    st.data(),
)
def test_rssi_window_with_fractional_values(samples, data):
    window = rssi_window(data.draw(st.permutations(samples)))
    expected = expected_rssi(samples)
    for ap, stats in window.items():
        want = expected[ap]
        assert {k: v for k, v in stats.items() if k != "sum"} == {k: v for k, v in want.items() if k != "sum"}
        assert stats["sum"] == pytest.approx(want["sum"], rel=1e-9, abs=1e-9)


# -- devices ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("AP_CONNECTED", "up"),
        ("AP_RECONNECTED", "up"),
        ("AP_RESTARTED", "up"),
        ("SW_CONNECTED", "up"),
        ("SW_RESTARTED", "up"),
        ("GW_CONNECTED", "up"),
        ("GW_RECONNECTED", "up"),
        ("ap_connected", "up"),
        ("AP_DISCONNECTED", "down"),
        ("AP_DISCONNECTED_LONG", "down"),
        ("SW_DISCONNECTED", "down"),
        ("GW_DISCONNECTED", "down"),
        ("AP_DOWN", "down"),
        ("SW_PORT_DOWN", None),
        ("AP_UPLINK_PORT_DOWN", None),
        ("GW_VPN_PATH_DOWN", None),
        ("GW_TUNNEL_DOWN", None),
        ("GW_BGP_NEIGHBOR_DOWN", None),
        ("SW_VC_PORT_DOWN", None),
        ("GW_PORT_DOWN", None),
        ("AP_RESTART_BY_USER", None),
        ("AP_RECONFIGURED", None),
        ("AP_CONFIGURED", None),
        ("AP_UPGRADED", None),
        ("CLIENT_DISCONNECTED", None),
        ("", None),
        (None, None),
    ],
)
def test_device_status_mapping(event_type, status):
    assert device_status(event_type) == status


def fold_devices(events):
    value = None
    for event in events:
        updated = apply_device_event(value, event)
        if updated is not None:
            value = updated
    return value


def test_device_updowns_sample():
    events = enriched("device-updowns")
    assert [device_mac(e) for e in events] == ["5c5b35513227", "5c5b35513227"]
    for order in (events, events[::-1]):
        value = fold_devices(order)
        assert device_view(value) == {
            "mac": "5c5b35513227",
            "status": "up",
            "last_type": "AP_CONNECTED",
            "timestamp": 1749106823.0,
        }
    # The disconnect alone: down.
    assert apply_device_event(None, events[0])["status"] == "down"
    # Arriving after the connect, the older disconnect changes nothing.
    assert apply_device_event(apply_device_event(None, events[1]), events[0]) is None


def test_device_events_sample():
    events = enriched("device-events")
    ap_events = [e for e in events if device_mac(e) == "5c5b350e55c8"]
    assert len(ap_events) == 3
    for order in itertools.permutations(ap_events):
        value = fold_devices(order)
        # Three events in one second: status events rank first, then the type string.
        assert device_view(value) == {
            "mac": "5c5b350e55c8",
            "status": "up",
            "last_type": "AP_RESTARTED",
            "timestamp": 1749106728.0,
        }
    (switch,) = [e for e in events if device_mac(e) == "50c7091a2b3c"]
    value = apply_device_event(None, switch)
    assert device_view(value) == {
        "mac": "50c7091a2b3c",
        "status": "unknown",  # a port going down says nothing about the switch
        "last_type": "SW_PORT_DOWN",
        "timestamp": 1749106740.0,
    }
    assert roundtrip(value) == value


def test_device_status_carries_over_and_late_status_events_count():
    mac = "5c5b350e55c8"
    up = apply_device_event(None, {"mac": mac, "type": "AP_CONNECTED", "timestamp": 5})
    reconf = apply_device_event(up, {"mac": mac, "type": "AP_RECONFIGURED", "timestamp": 10})
    assert device_view(reconf) == {
        "mac": mac,
        "status": "up",
        "last_type": "AP_RECONFIGURED",
        "timestamp": 10,
    }
    # A late disconnect at 7: newer than the connect, so the device is down, though not the newest event.
    late = apply_device_event(reconf, {"mac": mac, "type": "AP_DISCONNECTED", "timestamp": 7})
    assert device_view(late) == {
        "mac": mac,
        "status": "down",
        "last_type": "AP_RECONFIGURED",
        "timestamp": 10,
    }
    # Older than both: nothing; a duplicate: nothing.
    assert apply_device_event(late, {"mac": mac, "type": "AP_CONNECTED", "timestamp": 6}) is None
    assert apply_device_event(late, {"mac": mac, "type": "AP_RECONFIGURED", "timestamp": 10}) is None
    assert apply_device_event(late, {"mac": mac, "type": "AP_DISCONNECTED", "timestamp": 7}) is None
    # The first event saying nothing: unknown.
    first = apply_device_event(None, {"ap": mac, "type": "AP_RECONFIGURED", "timestamp": 1})
    assert (first["mac"], first["status"]) == (mac, "unknown")
    frozen = copy.deepcopy(first)
    apply_device_event(first, {"mac": mac, "type": "AP_CONNECTED", "timestamp": 2})
    assert first == frozen


DEVICE_TYPES = ["AP_CONNECTED", "AP_DISCONNECTED", "AP_RESTARTED", "AP_RECONFIGURED", "SW_PORT_DOWN"]
device_events = st.lists(
    st.builds(
        lambda ts, t: {"mac": "5c5b350e55c8", "type": t, "timestamp": ts},
        st.integers(0, 5),
        st.sampled_from(DEVICE_TYPES),
    ),
    min_size=1,
    max_size=10,
)


@PROPS
@given(device_events, st.data())
def test_device_newest_wins_over_any_permutation(events, data):
    value = fold_devices(events)
    rank = {None: 0, "down": 1, "up": 2}

    def order(e):
        return (e["timestamp"], rank[device_status(e["type"])], e["type"])

    newest = max(events, key=order)
    assert (value["timestamp"], value["last_type"]) == (newest["timestamp"], newest["type"])
    with_status = [e for e in events if device_status(e["type"])]
    expected = device_status(max(with_status, key=order)["type"]) if with_status else "unknown"
    assert value["status"] == expected
    assert fold_devices(data.draw(st.permutations(events))) == value
    assert fold_devices([roundtrip(e) for e in reversed(events)]) == value
    assert roundtrip(value) == value


# -- occupancy alerts ------------------------------------------------------------------------------------


def test_occupancy_alerts_sample():
    (event,) = enriched("occupancy-alerts")
    alerts = occupancy_alerts(event)
    assert alerts == [
        (
            ZONE_ID,
            {
                "zone_id": ZONE_ID,
                "zone_name": "Lobby",
                "map_id": MAP_ID,
                "site_id": SITE_ID,
                "type": "COMPLIANCE-VIOLATION",
                "current_occupancy": 27,
                "occupancy_limit": 25,
                "timestamp": 1749106728.0,
            },
        )
    ]
    alert = alerts[0][1]
    assert roundtrip(alert) == alert
    assert newer_alert(None, alert)
    assert not newer_alert(alert, alert)
    ok = {**alert, "type": "COMPLIANCE-OK", "current_occupancy": 20, "timestamp": alert["timestamp"] + 60}
    assert newer_alert(alert, ok)
    assert not newer_alert(ok, alert)
    # Equal times: one winner whatever the order.
    tie = {**alert, "type": "COMPLIANCE-OK"}
    assert newer_alert(alert, tie) != newer_alert(tie, alert)
    assert occupancy_alerts({"site_id": SITE_ID}) == []


# -- every state survives JSON ---------------------------------------------------------------------------


def test_every_state_round_trips_through_json():
    location = location_record("location", enriched("location")[0])
    zone_state, _, _ = zone([(0, "enter"), (50, "exit"), (60, "enter"), (200, "exit"), (150, "exit")], 100)
    window = add_visit(add_visit(None, "m@1.0", 10), "n@2.0", 20.5)
    rssi = rssi_window([("5c5b350e55c8", -70, 1), ("5c5b35513227", -60.5, 2)])
    device = fold_devices(enriched("device-updowns"))
    alert = occupancy_alerts(enriched("occupancy-alerts")[0])[0][1]
    for value in (location, zone_state, window, rssi, device, alert):
        assert roundtrip(value) == value
    # And the functions take the round-tripped values as they take the originals.
    assert newer_location(roundtrip(location), location) is newer_location(location, location)
    for ts, trigger in [(160, "enter"), (220, "exit"), (100, "exit"), (150, "exit")]:
        assert apply_zone_event(roundtrip(zone_state), "m", "wifi", ts, trigger, 100) == apply_zone_event(
            zone_state, "m", "wifi", ts, trigger, 100
        )
    assert zone_membership(roundtrip(zone_state)) == zone_membership(zone_state)
    assert add_visit(roundtrip(window), "o@3.0", 1) == add_visit(window, "o@3.0", 1)
    assert remove_visit(roundtrip(window), "m@1.0") == remove_visit(window, "m@1.0")
    assert window_summary(roundtrip(window), 0.0, 900) == window_summary(window, 0.0, 900)
    assert add_rssi_sample(roundtrip(rssi), "5c5b350e55c8", -1, 0) == add_rssi_sample(
        rssi, "5c5b350e55c8", -1, 0
    )
    assert rssi_window_view(roundtrip(rssi), 0.0, 60) == rssi_window_view(rssi, 0.0, 60)
    event = {"mac": device["mac"], "type": "AP_DISCONNECTED", "timestamp": 1749106900}
    assert apply_device_event(roundtrip(device), event) == apply_device_event(device, event)
    assert newer_alert(roundtrip(alert), alert) is False


# -- re-reads: applying an event twice


def test_reapplying_any_event_changes_no_other_aggregate():
    """Newest-wins values and sets keyed by identity need no watermark: the same event twice is a no-op."""
    location = location_record("location", enriched("location")[0])
    assert newer_location(location, dict(location)) is False
    state, _, _, _ = apply_zone_event(None, "m", "wifi", 10, "enter", 600)
    state, added, _, _ = apply_zone_event(state, "m", "wifi", 70, "exit", 600)
    assert added == [[10.0, 70.0]]
    again = apply_zone_event(roundtrip(state), "m", "wifi", 70, "exit", 600)
    assert again == (roundtrip(state), [], [], 0)
    window = add_visit(None, visit_id("m", 10), 60)
    assert add_visit(window, visit_id("m", 10), 60) == window
    for event in enriched("device-updowns"):
        device = apply_device_event(None, event)
        assert apply_device_event(device, event) is None
    alert = occupancy_alerts(enriched("occupancy-alerts")[0])[0][1]
    assert newer_alert(alert, dict(alert)) is False
