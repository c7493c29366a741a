"""parse: raw webhook bodies → normalised events and dead letters, as real Mist payloads arrive."""

from __future__ import annotations

import copy
import json

import orjson
import pytest
from pydantic import ValidationError
from support import MIST_SAMPLES

from pipeline.parse import (
    DeadLetter,
    ParsedBody,
    event_time,
    fingerprint,
    parse_body,
    validated_view,
    validation_errors,
)
from topics.catalogue import lookup
from topics.models import SdkclientScanDataEvent

SAMPLES = {p.stem: orjson.loads(p.read_bytes()) for p in sorted(MIST_SAMPLES.glob("*.json"))}
SITE_ID = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP_ID = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE_ID = "8ac84899-32db-6327-334c-9b6d58544cfe"


def sample(topic: str) -> dict:
    """A fresh copy of the bundled body of a topic, free to modify."""
    return copy.deepcopy(SAMPLES[topic])


def body_of(topic: str, events: list) -> bytes:
    return orjson.dumps({"topic": topic, "events": events})


def parse_one(topic: str, event: dict) -> dict:
    result = parse_body(body_of(topic, [event]))
    assert result.dead == [], result.dead
    assert len(result.events) == 1
    return result.events[0].event


def assert_body_dead(result: ParsedBody, *words: str) -> DeadLetter:
    assert result.events == []
    assert len(result.dead) == 1
    dead = result.dead[0]
    assert [e["field"] for e in dead.errors] == [None]
    message = dead.errors[0]["message"]
    for word in words:
        assert word in message, message
    return dead


# -- every bundled sample ------------------------------------------------------------------------------------


def test_samples_are_bundled():
    assert len(SAMPLES) >= 24
    assert {"location", "zone", "discovered-raw-rssi", "device-events", "audits"} <= set(SAMPLES)


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_every_sample_parses_whole(topic):
    raw = (MIST_SAMPLES / f"{topic}.json").read_bytes()
    result = parse_body(raw)
    assert result.dead == []
    assert result.mist_topic == topic
    assert len(result.events) == len(SAMPLES[topic]["events"]) > 0
    for parsed in result.events:
        assert parsed.mist_topic == topic
        assert parsed.key
        assert len(parsed.fingerprint) == 32


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_routed_topic_wins_over_the_body(topic):
    raw = (MIST_SAMPLES / f"{topic}.json").read_bytes()
    result = parse_body(raw, topic)
    assert result.mist_topic == topic and result.dead == []
    assert len(result.events) == len(SAMPLES[topic]["events"])


def test_sample_event_counts():
    counts = {topic: len(parse_body(orjson.dumps(body)).events) for topic, body in SAMPLES.items()}
    assert counts["location"] == 3
    assert counts["zone"] == 4
    assert counts["device-events"] == 4
    assert counts["audits"] == 2
    assert counts["discovered-raw-rssi"] == 2
    assert counts["device-updowns"] == 2


# -- real-world quirks ---------------------------------------------------------------------------------------


def test_uppercase_enum_is_normalised():
    events = parse_body(orjson.dumps(sample("device-events"))).events
    assert SAMPLES["device-events"]["events"][0]["ev_type"] == "NOTICE"
    assert events[0].event["ev_type"] == "notice"


def test_uppercase_zone_enums():
    event = dict(sample("zone")["events"][0], trigger="ENTER", type="SDK")
    parsed = parse_one("zone", event)
    assert parsed["trigger"] == "enter"
    assert parsed["type"] == "sdk"


def test_device_event_without_ev_type():
    body = sample("device-events")
    switch = body["events"][3]
    assert "ev_type" not in switch
    result = parse_body(orjson.dumps(body))
    assert result.dead == []
    parsed = result.events[3].event
    assert parsed.get("ev_type") is None
    assert parsed["device_type"] == "switch"
    # Fields the spec does not list are kept.
    assert parsed["port_id"] == "ge-0/0/31"
    assert parsed["model"] == "EX3400-48P"


def test_audit_without_device_id():
    body = sample("audits")
    assert "device_id" not in body["events"][0]
    result = parse_body(orjson.dumps(body))
    assert result.dead == []
    parsed = result.events[0].event
    assert parsed.get("device_id") is None
    assert parsed["user_agent"].startswith("Mozilla/5.0")  # extra field kept
    assert result.events[1].event["device_id"] == "00000000-0000-0000-1000-5c5b350e55c8"


def test_extra_fields_are_kept():
    event = dict(sample("location")["events"][1], rssi=-71, custom={"a": [1, 2]})
    parsed = parse_one("location", event)
    assert parsed["rssi"] == -71
    assert parsed["custom"] == {"a": [1, 2]}


def test_ints_where_floats_are_specified():
    event = dict(sample("location")["events"][0], x=13, y=3, timestamp=1749106728)
    parsed = parse_one("location", event)
    assert parsed["x"] == 13.0 and isinstance(parsed["x"], float)
    assert parsed["y"] == 3.0 and isinstance(parsed["y"], float)
    assert parsed["timestamp"] == 1749106728.0


def test_client_join_int_rssi_and_version():
    event = dict(sample("client-join")["events"][0], rssi=-65, version=2)
    parsed = parse_one("client-join", event)
    assert parsed["rssi"] == -65.0 and parsed["version"] == 2.0


@pytest.mark.parametrize(
    "mac",
    ["7f-c2-93-6f-d2-43", "7F-C2-93-6F-D2-43", "7f:c2:93:6f:d2:43", "7F:C2:93:6F:D2:43", "7FC2936FD243"],
)
def test_macs_are_normalised(mac):
    event = dict(sample("location")["events"][0], mac=mac)
    result = parse_body(body_of("location", [event]))
    assert result.dead == []
    assert result.events[0].event["mac"] == "7fc2936fd243"
    assert result.events[0].key == "7fc2936fd243"


def test_wifi_raw_dashed_macs():
    for topic in ("wifi-conn-raw", "wifi-unconn-raw"):
        raw_event = SAMPLES[topic]["events"][0]
        assert "-" in raw_event["ap_id"]
        result = parse_body(orjson.dumps(SAMPLES[topic]))
        parsed = result.events[0].event
        assert parsed["ap_id"] == "5c5b350e55c8"
        assert parsed["client_id"] == raw_event["client_id"].replace("-", "")
        assert len(parsed["client_id"]) == 12 and parsed["client_id"] == parsed["client_id"].lower()
        assert result.events[0].key == parsed["client_id"]


def test_uppercase_colon_macs_in_lists_and_nested():
    event = dict(sample("alarms")["events"][0], aps=["5C:5B:35:0E:55:C8"], bssids=["00-02-4A-1C-2D-3E"])
    parsed = parse_one("alarms", event)
    assert parsed["aps"] == ["5c5b350e55c8"]
    assert parsed["bssids"] == ["00024a1c2d3e"]


@pytest.mark.parametrize("topic", ["wifi-conn-raw", "wifi-unconn-raw"])
def test_wifi_raw_old_spellings(topic):
    event = sample(topic)["events"][0]
    event["mapid"] = event.pop("map_id")
    event["siteid"] = event.pop("site_id")
    event["ap_id"] = "5C:5B:35:0E:55:C8"
    parsed = parse_one(topic, event)
    assert parsed["map_id"] == MAP_ID
    assert parsed["site_id"] == SITE_ID
    assert "mapid" not in parsed and "siteid" not in parsed
    assert parsed["ap_id"] == "5c5b350e55c8"


def test_discovered_raw_rssi_company_id_is_a_string():
    result = parse_body(orjson.dumps(SAMPLES["discovered-raw-rssi"]))
    assert result.events[0].event["mfg_company_id"] == "004c"
    assert "mfg_company_id" not in result.events[1].event
    # An int there is taken as its string.
    parsed = parse_one(
        "discovered-raw-rssi", dict(sample("discovered-raw-rssi")["events"][0], mfg_company_id=76)
    )
    assert parsed["mfg_company_id"] == "76"


def test_location_company_id_stays_an_int():
    parsed = parse_one("location", sample("location")["events"][0])
    assert parsed["mfg_company_id"] == 935


def test_string_band_of_sdk_scan():
    body = sample("sdkclient-scan-data")
    body["events"][0]["scan_data"][0]["band"] = 2.4
    body["events"][0]["scan_data"][1]["band"] = 5
    result = parse_body(orjson.dumps(body))
    assert result.dead == []
    assert [s["band"] for s in result.events[0].event["scan_data"]] == ["2.4", "5"]


# -- one bad event among good ones ---------------------------------------------------------------------------


def changed(topic: str, index: int, change: dict) -> dict:
    body = sample(topic)
    for name, value in change.items():
        if value is None:
            body["events"][index].pop(name, None)
        else:
            body["events"][index][name] = value
    return body


@pytest.mark.parametrize(
    ("topic", "index", "change", "field", "kind"),
    [
        ("location", 1, {"x": None}, "x", "missing"),
        ("location", 0, {"x": "far"}, "x", "needed"),
        ("location", 2, {"mac": None, "id": None}, "mac", "missing"),
        ("zone", 1, {"trigger": "inside"}, "trigger", "needed"),
        ("zone", 0, {"zone_id": None}, "zone_id", "missing"),
        ("discovered-raw-rssi", 0, {"rssi": "loud"}, "rssi", "needed"),
        ("device-updowns", 0, {"timestamp": "yesterday"}, "timestamp", "needed"),
    ],
)
def test_an_event_without_what_it_needs_is_refused_alone(topic, index, change, field, kind):
    body = changed(topic, index, change)
    bad = copy.deepcopy(body["events"][index])
    result = parse_body(orjson.dumps(body))
    assert len(result.events) == len(body["events"]) - 1
    assert len(result.dead) == 1
    dead = result.dead[0]
    assert dead.mist_topic == topic
    assert dead.index == index
    assert dead.event == bad
    assert dead.body is None
    assert [(e["field"], e["type"]) for e in dead.errors] == [(field, kind)]
    # The message says why the pipeline cannot do without it.
    assert "needed" in dead.errors[0]["message"] or "missing" in dead.errors[0]["message"]
    # The valid ones are the others, in order.
    others = [e for i, e in enumerate(body["events"]) if i != index]
    assert [p.event["timestamp"] for p in result.events] == [float(e["timestamp"]) for e in others]
    # Fingerprints are of the normalised event: copies differing only in spelling are one event.
    assert [p.fingerprint for p in result.events] == [fingerprint(topic, p.event) for p in result.events]


@pytest.mark.parametrize(
    ("topic", "index", "change", "field"),
    [
        ("location", 0, {"map_id": None}, None),  # optional, and absent: nothing to say
        ("device-events", 2, {"ev_type": "LOUD"}, "ev_type"),
        ("zone", 0, {"type": "bluetooth"}, "type"),
        ("client-sessions", 0, {"duration": "long"}, "duration"),
        ("alarms", 0, {"aps": ["5c5b350e55c8", "bogus"]}, "aps.1"),
        ("occupancy-alerts", 0, {"for_site": "sometimes"}, "for_site"),
    ],
)
def test_a_field_wrong_but_not_needed_is_kept_as_received_with_a_warning(topic, index, change, field):
    body = changed(topic, index, change)
    result = parse_body(orjson.dumps(body))
    assert result.dead == []
    assert len(result.events) == len(body["events"])
    event = result.events[index]
    for name, value in change.items():
        assert event.event.get(name) == value
    assert [w["field"] for w in event.warnings] == ([field] if field else [])
    assert all(w["message"] for w in event.warnings)
    assert all(not e.warnings for i, e in enumerate(result.events) if i != index)


def test_an_identity_of_the_wrong_form_is_used_as_received():
    # A beacon named "mac4" (a placeholder of Mist's Go SDK) is still one beacon: its RSSI windows need a
    # name, not a well-formed one.
    body = changed("discovered-raw-rssi", 0, {"mac": "mac4"})
    event = parse_body(orjson.dumps(body)).events[0]
    assert event.event["mac"] == "mac4"
    assert event.key == "mac4"
    assert [w["field"] for w in event.warnings] == ["mac"]
    assert event.warnings[0]["message"].endswith("used as received")


def test_a_nested_field_wrong_is_kept_in_its_place():
    body = sample("sdkclient-scan-data")
    body["events"][0]["scan_data"][1]["band"] = "6"
    body["events"][0]["scan_data"][0]["ap"] = "5C:5B:35:00:00:01"
    result = parse_body(orjson.dumps(body))
    assert result.dead == []
    event = result.events[0]
    assert [w["field"] for w in event.warnings] == ["scan_data.1.band"]
    assert event.event["scan_data"][1]["band"] == "6"
    assert event.event["scan_data"][0]["ap"] == "5c5b35000001"  # the rest of the list is still normalised


def test_several_errors_of_one_event():
    body = sample("location")
    body["events"][0]["x"] = "left"
    body["events"][0]["y"] = "right"
    body["events"][0]["name"] = {"first": "a"}
    dead = parse_body(orjson.dumps(body)).dead
    assert len(dead) == 1
    assert sorted(e["field"] for e in dead[0].errors) == ["x", "y"]


def test_validation_errors_shape():
    with pytest.raises(ValidationError) as info:
        SdkclientScanDataEvent.model_validate({"mac": "nope", "scan_data": [{"band": "7"}]})
    errors = validation_errors(info.value)
    fields = {e["field"] for e in errors}
    assert "mac" in fields
    assert any(f and f.startswith("scan_data.0.") for f in fields)
    for error in errors:
        assert set(error) == {"field", "message", "type"}
        assert isinstance(error["message"], str) and error["message"]


# -- bodies that are not webhook bodies ----------------------------------------------------------------------


def test_not_json():
    result = parse_body(b'{"topic": "location", "events": [', "location")
    dead = assert_body_dead(result, "not JSON")
    assert dead.mist_topic == "location"
    assert dead.body == '{"topic": "location", "events": ['
    assert dead.index is None


def test_not_utf8():
    result = parse_body(b"\xff\xfe{}")
    dead = assert_body_dead(result, "not JSON")
    assert dead.body is not None


def test_empty_body():
    assert_body_dead(parse_body(b""), "not JSON")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"location"', b"42", b"null"])
def test_not_an_object(raw):
    dead = assert_body_dead(parse_body(raw, "location"), "not a webhook body", "events")
    assert dead.body == raw.decode()


@pytest.mark.parametrize(
    "body",
    [{"topic": "location"}, {"topic": "location", "events": {"x": 1}}, {"topic": "location", "events": None}],
)
def test_missing_events(body):
    assert_body_dead(parse_body(orjson.dumps(body)), "not a webhook body", "events")


def test_non_object_event():
    good = SAMPLES["location"]["events"][0]
    result = parse_body(body_of("location", [good, 7, ["a"], None, good]))
    assert len(result.events) == 2
    assert [d.index for d in result.dead] == [1, 2, 3]
    assert [d.event for d in result.dead] == [7, ["a"], None]
    for dead in result.dead:
        assert [e["field"] for e in dead.errors] == [None]
        assert "JSON object" in dead.errors[0]["message"]


@pytest.mark.parametrize("name", ["no-such-topic", "", "location.enriched"])
def test_unknown_topic(name):
    raw = body_of(name, [SAMPLES["location"]["events"][0]])
    dead = assert_body_dead(parse_body(raw), "not a catalogued Mist topic", repr(name))
    assert dead.body == raw.decode()


def test_unknown_routed_topic():
    raw = orjson.dumps(SAMPLES["location"])
    assert_body_dead(parse_body(raw, "nowhere"), "nowhere")


def test_body_without_topic_is_not_catalogued():
    raw = orjson.dumps({"events": SAMPLES["location"]["events"]})
    assert_body_dead(parse_body(raw), "not a catalogued Mist topic")


def test_empty_events():
    result = parse_body(body_of("location", []))
    assert result.mist_topic == "location"
    assert result.events == [] and result.dead == []


# -- topic spellings -----------------------------------------------------------------------------------------


def test_underscore_topic_spelling():
    assert lookup("location_asset") is lookup("location-asset") is not None
    body = dict(sample("location-asset"), topic="location_asset")
    result = parse_body(orjson.dumps(body))
    assert result.mist_topic == "location-asset"
    assert result.dead == [] and len(result.events) == 1
    assert result.events[0].mist_topic == "location-asset"
    assert result.events[0].key == "7fc2936fd243"
    routed = parse_body(orjson.dumps(body), "location_asset")
    assert routed.mist_topic == "location-asset" and len(routed.events) == 1
    assert routed.events[0].fingerprint == result.events[0].fingerprint


# -- keys ----------------------------------------------------------------------------------------------------


def test_location_key_is_mac_else_sdk_id():
    events = parse_body(orjson.dumps(SAMPLES["location"])).events
    assert [e.key for e in events] == [
        "7fc2936fd243",
        "5684dae9ac8b",
        "de87bf9d-183f-e383-cc68-6ba43947d403",  # the SDK client: no mac
    ]


def test_zone_key_is_zone_id():
    events = parse_body(orjson.dumps(SAMPLES["zone"])).events
    assert [e.key for e in events] == [ZONE_ID] * 4


def test_discovered_raw_rssi_key_is_beacon_mac():
    body = sample("discovered-raw-rssi")
    body["events"][1]["mac"] = "ED:2C:C5:3F:27:70"
    events = parse_body(orjson.dumps(body)).events
    assert [e.key for e in events] == ["ed2cc53f2770", "ed2cc53f2770"]


def test_device_updowns_key_is_ap_mac():
    events = parse_body(orjson.dumps(SAMPLES["device-updowns"])).events
    assert [e.key for e in events] == ["5c5b35513227", "5c5b35513227"]
    event = dict(sample("device-updowns")["events"][0], ap="5C-5B-35-51-32-27")
    assert parse_body(body_of("device-updowns", [event])).events[0].key == "5c5b35513227"


def test_device_events_key_is_device_mac():
    events = parse_body(orjson.dumps(SAMPLES["device-events"])).events
    assert [e.key for e in events] == ["5c5b350e55c8"] * 3 + ["50c7091a2b3c"]


def test_site_level_keys():
    assert parse_body(orjson.dumps(SAMPLES["audits"])).events[0].key == SITE_ID
    org_level = {k: v for k, v in SAMPLES["audits"]["events"][0].items() if k != "site_id"}
    assert parse_body(body_of("audits", [org_level])).events[0].key == "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"


# -- fingerprint ---------------------------------------------------------------------------------------------


def test_fingerprint_ignores_key_order():
    event = SAMPLES["location"]["events"][0]
    reordered = dict(reversed(list(event.items())))
    assert list(reordered) != list(event)
    assert fingerprint("location", reordered) == fingerprint("location", event)
    nested = SAMPLES["discovered-raw-rssi"]["events"][0]
    shuffled = dict(reversed(list(nested.items())))
    shuffled["service_packets"] = [dict(reversed(list(p.items()))) for p in nested["service_packets"]]
    assert fingerprint("discovered-raw-rssi", shuffled) == fingerprint("discovered-raw-rssi", nested)


def test_fingerprint_ignores_whitespace_and_key_order_of_bodies():
    compact = orjson.dumps(SAMPLES["location"])
    shuffled = {"events": [dict(sorted(e.items(), reverse=True)) for e in SAMPLES["location"]["events"]]}
    shuffled["topic"] = "location"
    pretty = json.dumps(shuffled, indent=4).encode()
    assert pretty != compact
    a, b = parse_body(compact), parse_body(pretty)
    assert [e.fingerprint for e in a.events] == [e.fingerprint for e in b.events]
    assert a.events[0].fingerprint == fingerprint("location", a.events[0].event)
    assert len({e.fingerprint for e in a.events}) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"x": 13.6},
        {"timestamp": 1749106729},
        {"name": "Forklift-08"},
        {"mfg_company_id": 936},
        {"extra": None},
        {"mac": "7fc2936fd244"},
    ],
)
def test_fingerprint_differs_for_any_changed_value(change):
    event = SAMPLES["location"]["events"][0]
    assert fingerprint("location", dict(event, **change)) != fingerprint("location", event)


def test_fingerprint_differs_for_nested_value_and_missing_field():
    event = SAMPLES["discovered-raw-rssi"]["events"][0]
    changed = copy.deepcopy(event)
    changed["service_packets"][0]["service_uuid"] = "feab"
    assert fingerprint("discovered-raw-rssi", changed) != fingerprint("discovered-raw-rssi", event)
    fewer = {k: v for k, v in event.items() if k != "beam"}
    assert fingerprint("discovered-raw-rssi", fewer) != fingerprint("discovered-raw-rssi", event)


def test_copies_spelled_differently_share_a_fingerprint():
    body = sample("discovered-raw-rssi")
    respelled = copy.deepcopy(body)
    respelled["events"][0]["mac"] = "ED:2C:C5:3F:27:70"
    respelled["events"][0]["rssi"] = float(respelled["events"][0]["rssi"])
    a, b = parse_body(orjson.dumps(body)), parse_body(orjson.dumps(respelled))
    assert a.events[0].fingerprint == b.events[0].fingerprint


def test_fingerprint_differs_by_topic():
    event = SAMPLES["location"]["events"][0]
    assert fingerprint("location", event) != fingerprint("location-asset", event)


def test_fingerprint_is_stable():
    event = SAMPLES["zone"]["events"][0]
    assert fingerprint("zone", event) == fingerprint("zone", copy.deepcopy(event))


# -- event time ----------------------------------------------------------------------------------------------


def test_event_time_timestamp():
    assert event_time({"timestamp": 1749106728}) == 1749106728.0
    assert event_time({"timestamp": 1749106728.25}) == 1749106728.25
    assert isinstance(event_time({"timestamp": 5}), float)
    assert event_time({"timestamp": 5, "last_seen": 9}) == 5.0


def test_event_time_last_seen():
    assert event_time({"last_seen": 1749106728}) == 1749106728.0
    events = parse_body(orjson.dumps(SAMPLES["sdkclient-scan-data"])).events
    assert "timestamp" not in SAMPLES["sdkclient-scan-data"]["events"][0]
    assert events[0].timestamp == 1749106728.0


def test_event_time_alert_events():
    event = {"alert_events": [{"timestamp": 100}, {"timestamp": 300.5}, {"timestamp": 200}]}
    assert event_time(event) == 300.5
    assert event_time({"alert_events": []}) is None
    events = parse_body(orjson.dumps(SAMPLES["occupancy-alerts"])).events
    assert events[0].timestamp == 1749106728.0


def test_event_time_none():
    assert event_time({}) is None
    for topic in ("wifi-conn-raw", "wifi-unconn-raw"):
        events = parse_body(orjson.dumps(SAMPLES[topic])).events
        assert [e.timestamp for e in events] == [None]


def test_parsed_timestamps_of_samples():
    events = parse_body(orjson.dumps(SAMPLES["location"])).events
    assert [e.timestamp for e in events] == [1749106728.0, 1749106729.0, 1749106730.0]
    audits = parse_body(orjson.dumps(SAMPLES["audits"])).events
    assert audits[0].timestamp == pytest.approx(1749106728.923601)


def test_the_validated_view_leaves_out_what_was_kept_as_received():
    body = changed("location", 0, {"site_id": {"not": "an id"}, "mac": "mac4", "name": ["a"]})
    event = parse_body(orjson.dumps(body)).events[0]
    assert {w["field"] for w in event.warnings} == {"site_id", "mac", "name"}
    view = validated_view("location", event.event, event.warnings)
    assert "site_id" not in view and "name" not in view
    assert view["mac"] == "mac4"  # the identity in use stays
    assert event.event["site_id"] == {"not": "an id"}  # the record itself keeps all


def test_an_identity_that_is_no_string_is_not_used():
    # An SDK client (`id`) whose `mac` came as a number: the id is the entity, the number left out.
    body = changed("location", 0, {"mac": 123456789012, "id": "sdk-client-1"})
    event = parse_body(orjson.dumps(body)).events[0]
    assert event.key == "sdk-client-1"
    assert "mac" not in validated_view("location", event.event, event.warnings)
    # Without the id, nothing names the entity: refused.
    body = changed("location", 0, {"mac": 123456789012, "id": None})
    dead = parse_body(orjson.dumps(body)).dead
    assert [(e["field"], e["type"]) for e in dead[0].errors] == [("mac", "needed")]
