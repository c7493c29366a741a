"""enrich: parsed events joined with the sites, maps and zones that Mist's API returns."""

from __future__ import annotations

import orjson
import pytest
from support import MIST_API, MIST_SAMPLES

from pipeline.enrich import enrich, map_info, site_info, zone_info
from pipeline.parse import parse_body

SITE_ID = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP_ID = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE_ID = "8ac84899-32db-6327-334c-9b6d58544cfe"
PPM = 40.94


def by_id(name: str) -> dict[str, dict]:
    return {obj["id"]: obj for obj in orjson.loads((MIST_API / name).read_bytes())}


SITES = by_id("GET_orgs_org_id_sites.json")
MAPS = by_id("GET_sites_site_id_maps.json")
ZONES = by_id("GET_sites_site_id_zones.json")
LOCATION_TOPICS = [
    "location",
    "location-asset",
    "location-centrak",
    "location-client",
    "location-sdk",
    "location-unclient",
]


def parsed(topic: str) -> list[dict]:
    result = parse_body((MIST_SAMPLES / f"{topic}.json").read_bytes())
    assert result.dead == []
    return [e.event for e in result.events]


def test_reference_samples_are_keyed_by_id():
    assert list(SITES) == [SITE_ID]
    assert list(MAPS) == [MAP_ID]
    assert list(ZONES) == [ZONE_ID]


@pytest.mark.parametrize("topic", LOCATION_TOPICS)
def test_location_samples_get_site_and_map(topic):
    events = parsed(topic)
    assert events
    for event in events:
        out, missing = enrich(topic, event, SITES, MAPS, ZONES)
        assert missing == []
        site = out["site"]
        assert site["id"] == SITE_ID
        assert site["name"] == "Mist Office"
        assert site["timezone"] == "America/Los_Angeles"
        assert site["country_code"] == "US"
        assert site["lat"] == pytest.approx(37.295833)
        assert site["lng"] == pytest.approx(-122.032946)
        map_ = out["map"]
        assert map_["id"] == MAP_ID
        assert map_["name"] == "Floor 1"
        assert map_["ppm"] == pytest.approx(PPM)
        assert (map_["width"], map_["height"]) == (1250, 1500)
        assert map_["width_m"] == pytest.approx(30.53)
        assert map_["height_m"] == pytest.approx(36.64)
        assert out["x_px"] == pytest.approx(event["x"] * PPM)
        assert out["y_px"] == pytest.approx(event["y"] * PPM)
        assert "zone" not in out


def test_location_asset_pixels():
    event = parsed("location")[0]
    out, _ = enrich("location", event, SITES, MAPS, ZONES)
    assert out["x_px"] == pytest.approx(13.5 * 40.94)
    assert out["y_px"] == pytest.approx(3.2 * 40.94)
    # The asset lies inside the Lobby polygon (x 450..700, y 100..300 px).
    vertices = ZONES[ZONE_ID]["vertices"]
    xs, ys = [v["x"] for v in vertices], [v["y"] for v in vertices]
    assert min(xs) <= out["x_px"] <= max(xs)
    assert min(ys) <= out["y_px"] <= max(ys)


def test_enrich_does_not_change_the_event():
    event = parsed("location")[0]
    before = dict(event)
    out, _ = enrich("location", event, SITES, MAPS, ZONES)
    assert event == before
    assert not set(out) & {"x", "y", "mac", "timestamp"}


def test_zone_events_get_zone_name():
    events = parsed("zone")
    assert len(events) == 4
    for event in events:
        out, missing = enrich("zone", event, SITES, MAPS, ZONES)
        assert missing == []
        assert out["zone"] == {"id": ZONE_ID, "name": "Lobby"}
        assert out["site"]["name"] == "Mist Office"
        assert out["map"]["name"] == "Floor 1"
        assert "x_px" not in out and "y_px" not in out


@pytest.mark.parametrize(
    ("change", "absent"),
    [
        ({"site_id": "no-such-site"}, ["site"]),
        ({"map_id": "no-such-map"}, ["map"]),
        ({"zone_id": "no-such-zone"}, ["zone"]),
        ({"site_id": "s?", "map_id": "m?", "zone_id": "z?"}, ["site", "map", "zone"]),
    ],
)
def test_unknown_reference_is_listed_missing(change, absent):
    event = dict(parsed("zone")[0], **change)
    out, missing = enrich("zone", event, SITES, MAPS, ZONES)
    assert missing == absent
    for kind in absent:
        assert kind not in out
    for kind in {"site", "map", "zone"} - set(absent):
        assert kind in out


def test_unknown_map_has_no_pixels():
    event = dict(parsed("location")[0], map_id="no-such-map")
    out, missing = enrich("location", event, SITES, MAPS, ZONES)
    assert missing == ["map"]
    assert "x_px" not in out and "y_px" not in out
    assert out["site"]["name"] == "Mist Office"


def test_empty_reference_data():
    out, missing = enrich("location", parsed("location")[0], {}, {}, {})
    assert out == {}
    assert missing == ["site", "map"]


@pytest.mark.parametrize("topic", ["audits", "device-updowns", "alarms", "client-join"])
def test_events_with_site_only(topic):
    for event in parsed(topic):
        out, missing = enrich(topic, event, SITES, MAPS, ZONES)
        assert missing == []
        assert out["site"]["name"] == "Mist Office"
        assert "map" not in out and "zone" not in out


def test_events_without_ids_miss_nothing():
    for event in ({}, {"x": 1.0, "y": 2.0}, {"site_id": None, "map_id": "", "zone_id": None}):
        assert enrich("location", event, SITES, MAPS, ZONES) == ({}, [])
    org_level = {k: v for k, v in parsed("audits")[0].items() if k != "site_id"}
    assert enrich("audits", org_level, {}, {}, {}) == ({}, [])


def test_wifi_raw_map_without_coordinates():
    for topic in ("wifi-conn-raw", "wifi-unconn-raw"):
        event = parsed(topic)[0]
        out, missing = enrich(topic, event, SITES, MAPS, ZONES)
        assert missing == []
        assert out["map"]["name"] == "Floor 1"
        assert "x_px" not in out


def test_map_without_ppm_has_no_pixels():
    maps = {MAP_ID: {k: v for k, v in MAPS[MAP_ID].items() if k != "ppm"}}
    out, missing = enrich("location", parsed("location")[0], SITES, maps, ZONES)
    assert missing == []
    assert out["map"]["name"] == "Floor 1"
    assert out["map"]["ppm"] is None
    assert "x_px" not in out and "y_px" not in out


def test_map_with_zero_ppm_has_no_pixels():
    maps = {MAP_ID: dict(MAPS[MAP_ID], ppm=0)}
    out, _ = enrich("location", parsed("location")[0], SITES, maps, ZONES)
    assert "x_px" not in out


def test_origin_coordinates_get_pixels():
    event = dict(parsed("location")[0], x=0.0, y=0.0)
    out, _ = enrich("location", event, SITES, MAPS, ZONES)
    assert out["x_px"] == 0.0 and out["y_px"] == 0.0


def test_info_helpers():
    assert site_info(SITES[SITE_ID]) == {
        "id": SITE_ID,
        "name": "Mist Office",
        "timezone": "America/Los_Angeles",
        "country_code": "US",
        "lat": 37.295833,
        "lng": -122.032946,
    }
    assert site_info({"id": "s"}) == {
        "id": "s",
        "name": None,
        "timezone": None,
        "country_code": None,
        "lat": None,
        "lng": None,
    }
    assert map_info(MAPS[MAP_ID])["ppm"] == 40.94
    assert map_info({"id": "m"})["ppm"] is None
    assert zone_info(ZONES[ZONE_ID]) == {"id": ZONE_ID, "name": "Lobby"}
