"""records: the published records validate against their pydantic models and their JSON Schemas alike."""

from __future__ import annotations

import copy
import json

import jsonschema
import orjson
import pytest
from pydantic import BaseModel, ValidationError
from support import MIST_API, MIST_SAMPLES, REPO, run_cli

from pipeline.enrich import enrich, envelope
from pipeline.parse import parse_body
from pipeline.process import deadletter_record
from topics.catalogue import CATALOGUE
from topics.records import (
    DeadLetterRecord,
    RssiWindow,
    ZoneVisit,
    enriched_model,
    schemas,
)

SCHEMAS = schemas()
SAMPLE_TOPICS = sorted(path.stem for path in MIST_SAMPLES.glob("*.json"))
SOURCE = {"topic": "mist.zone", "partition": 3, "offset": 42}


def by_id(name: str) -> dict[str, dict]:
    return {obj["id"]: obj for obj in orjson.loads((MIST_API / name).read_bytes())}


SITES = by_id("GET_orgs_org_id_sites.json")
MAPS = by_id("GET_sites_site_id_maps.json")
ZONES = by_id("GET_sites_site_id_zones.json")


def enriched_records(topic: str, sites=SITES, maps=MAPS, zones=ZONES) -> list[dict]:
    """The sample's events as the worker publishes them (pipeline.enrich.envelope; a JSON round trip)."""
    body = parse_body((MIST_SAMPLES / f"{topic}.json").read_bytes(), topic)
    assert body.events and not body.dead
    records = []
    for offset, event in enumerate(body.events):
        extra, missing = enrich(event.mist_topic, event.event, sites, maps, zones)
        source = {"topic": f"mist.{topic}", "partition": 0, "offset": offset, "index": event.index}
        out = envelope(event.mist_topic, event.event, extra, missing, source, 1749106730123, event.warnings)
        records.append(orjson.loads(orjson.dumps(out)))
    return records


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMAS[name])


def assert_valid(name: str, model: type[BaseModel], record: dict) -> None:
    errors = [e.message for e in validator(name).iter_errors(record)]
    assert errors == [], errors
    model.model_validate(record)
    model.model_validate_json(orjson.dumps(record))


def assert_invalid(name: str, model: type[BaseModel], record: dict) -> None:
    assert not validator(name).is_valid(record), record
    with pytest.raises(ValidationError):
        model.model_validate(record)
    with pytest.raises(ValidationError):
        model.model_validate_json(orjson.dumps(record))


# -- the schemas ---------------------------------------------------------------------------------------------


def test_one_schema_per_catalogued_topic_and_per_derived_record():
    expected = {f"enriched/{t}.json" for t in CATALOGUE}
    expected |= {"derived/zone.visits.json", "derived/rssi.windows.json", "deadletter.json"}
    assert set(SCHEMAS) == expected


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schemas_are_valid_and_describe_their_topic(name):
    schema = SCHEMAS[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == f"mistpipe/{name}"
    topic = {
        "derived/zone.visits.json": "mist.zone.visits",
        "derived/rssi.windows.json": "mist.rssi.windows",
        "deadletter.json": "mist.deadletter",
    }.get(name) or f"mist.{name.removeprefix('enriched/').removesuffix('.json')}.enriched"
    assert f"`{topic}`" in schema["description"]
    assert "Key: " in schema["description"]


def test_schemas_name_topics_under_the_given_prefix():
    other = schemas("acme.")
    assert "`acme.location.enriched`" in other["enriched/location.json"]["description"]
    assert "`acme.zone.visits`" in other["derived/zone.visits.json"]["description"]


def test_schemas_are_fresh_copies():
    first = schemas()
    first["deadletter.json"]["title"] = "changed"
    first["enriched/zone.json"]["properties"].clear()
    assert schemas() == SCHEMAS


# -- enriched records ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", SAMPLE_TOPICS)
def test_every_enriched_sample_validates(topic):
    model = enriched_model(topic)
    for record in enriched_records(topic):
        assert_valid(f"enriched/{topic}.json", model, record)
        assert model.model_validate(record).mist.topic == topic


def test_enriched_models_are_named_and_cached_per_topic():
    assert enriched_model("location").__name__ == "LocationEnriched"
    assert enriched_model("discovered-raw-rssi").__name__ == "DiscoveredRawRssiEnriched"
    assert enriched_model("location_asset") is enriched_model("location-asset")
    assert issubclass(enriched_model("zone"), CATALOGUE["zone"].model)
    with pytest.raises(KeyError):
        enriched_model("no-such-topic")


def test_enriched_fields_are_typed():
    (record, *_) = enriched_records("zone")
    parsed = enriched_model("zone").model_validate(record)
    assert parsed.site.name == "Mist Office"
    assert parsed.map.ppm == pytest.approx(40.94)
    assert parsed.zone.name == "Lobby"
    assert parsed.mist.enriched is True and parsed.mist.missing == []
    assert parsed.mist.source.partition == 0
    location = enriched_model("location").model_validate(enriched_records("location")[0])
    assert location.x_px == pytest.approx(location.x * 40.94)


def test_records_without_reference_data_validate_and_name_what_is_missing():
    for topic in ("zone", "location"):
        for record in enriched_records(topic, sites={}, maps={}, zones={}):
            assert_valid(f"enriched/{topic}.json", enriched_model(topic), record)
            assert "site" not in record and "x_px" not in record
            assert record["mist"]["enriched"] is False and "map" in record["mist"]["missing"]


def test_unknown_event_fields_are_kept():
    record = {**enriched_records("location")[0], "rssi": -71}
    assert_valid("enriched/location.json", enriched_model("location"), record)
    assert enriched_model("location").model_validate(record).model_extra == {"rssi": -71}


def broken(record: dict, path: tuple[str, ...], value=None, *, delete: bool = False) -> dict:
    record = copy.deepcopy(record)
    target = record
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return record


ENRICHED_BREAKAGES = {
    "no mist": (("mist",), None, True),
    "mist not an object": (("mist",), "location", False),
    "mist without source": (("mist", "source"), None, True),
    "offset not an int": (("mist", "source", "offset"), "42", False),
    "enriched not a bool": (("mist", "enriched"), "yes", False),
    "unknown missing": (("mist", "missing"), ["floor"], False),
    "unknown provenance field": (("mist", "extra"), 1, False),
    "site without id": (("site", "id"), None, True),
    "site name not a string": (("site", "name"), 7, False),
    "map not an object": (("map",), "Floor 1", False),
    "x_px not a number": (("x_px",), "12px", False),
    "no x": (("x",), None, True),
    "x not a number": (("x",), "far", False),
    "negative timestamp": (("timestamp",), -1.0, False),
    "no y": (("y",), None, True),
}


@pytest.mark.parametrize("breakage", sorted(ENRICHED_BREAKAGES))
def test_broken_enriched_records_fail(breakage):
    path, value, delete = ENRICHED_BREAKAGES[breakage]
    record = broken(enriched_records("location")[0], path, value, delete=delete)
    assert_invalid("enriched/location.json", enriched_model("location"), record)


def test_a_record_without_what_its_topic_needs_fails():
    # A location needs an entity, a `mac` or an `id`: either will do, none will not.
    record = enriched_records("location")[0]
    assert {"mac", "id"} <= set(record)
    for name in ("mac", "id"):
        one = broken(record, (name,), delete=True)
        assert_valid("enriched/location.json", enriched_model("location"), one)
    neither = broken(broken(record, ("mac",), delete=True), ("id",), delete=True)
    assert_invalid("enriched/location.json", enriched_model("location"), neither)


def test_an_enum_outside_the_documented_values_fails():
    record = broken(enriched_records("zone")[0], ("trigger",), "leave")
    assert_invalid("enriched/zone.json", enriched_model("zone"), record)


# -- derived and dead-letter records -------------------------------------------------------------------------

VISIT = {
    "zone_id": "8ac84899-32db-6327-334c-9b6d58544cfe",
    "zone_name": "Lobby",
    "site_id": "441a1214-6928-442a-8e92-e1d34b8ec6a6",
    "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5",
    "member": "5684dae9ac8b",
    "member_type": "wifi",
    "entered": 1749106728.0,
    "exited": 1749106788.5,
    "dwell_s": 60.5,
    "retracted": False,
}
WINDOW = {
    "mac": "7fc2936fd243",
    "start": 1749106680.0,
    "end": 1749106740.0,
    "aps": {
        "5c5b35000010": {"count": 3, "sum": -210.0, "min": -75.0, "max": -65.0, "last": -70.0},
        "5c5b35000011": {"count": 1, "sum": -80, "min": -80, "max": -80, "last": -80},
    },
}
DEAD = {
    "mist_topic": "location",
    "errors": [{"field": "x", "message": "Field required", "type": "missing"}],
    "event": {"mac": "7fc2936fd243", "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5"},
    "body": None,
    "index": 1,
    "source": SOURCE,
    "received_at_ms": 1749106730123,
}
DEAD_BODY = {
    "mist_topic": None,
    "errors": [{"field": None, "message": "not JSON: unexpected character", "type": "body"}],
    "event": None,
    "body": "{not json",
    "index": None,
    "source": SOURCE,
    "received_at_ms": None,
}
DERIVED = {
    "derived/zone.visits.json": (ZoneVisit, [VISIT, {**VISIT, "retracted": True, "zone_name": None}]),
    "derived/rssi.windows.json": (RssiWindow, [WINDOW, {**WINDOW, "aps": {}}]),
    "deadletter.json": (DeadLetterRecord, [DEAD, DEAD_BODY, {**DEAD, "event": [1, "two", None]}]),
}
DERIVED_BREAKAGES = [
    ("derived/zone.visits.json", broken(VISIT, ("member",), None, delete=True)),
    ("derived/zone.visits.json", broken(VISIT, ("entered",), "1749106728")),
    ("derived/zone.visits.json", broken(VISIT, ("dwell_s",), -1.0)),
    ("derived/zone.visits.json", broken(VISIT, ("retracted",), "no")),
    ("derived/zone.visits.json", broken(VISIT, ("zone_id",), None)),
    ("derived/zone.visits.json", broken(VISIT, ("dwell",), 60.5)),
    ("derived/rssi.windows.json", broken(WINDOW, ("aps",), None, delete=True)),
    ("derived/rssi.windows.json", broken(WINDOW, ("aps", "5c5b35000010", "count"), 2.5)),
    ("derived/rssi.windows.json", broken(WINDOW, ("aps", "5c5b35000010", "count"), 0)),
    ("derived/rssi.windows.json", broken(WINDOW, ("aps", "5c5b35000010", "last"), None, delete=True)),
    ("derived/rssi.windows.json", broken(WINDOW, ("aps", "5c5b35000011"), [-80])),
    ("derived/rssi.windows.json", broken(WINDOW, ("start",), "now")),
    ("deadletter.json", broken(DEAD, ("errors",), [{"field": "x", "message": "Field required"}])),
    ("deadletter.json", broken(DEAD, ("errors",), "x is missing")),
    ("deadletter.json", broken(DEAD, ("source",), None, delete=True)),
    ("deadletter.json", broken(DEAD, ("index",), "1")),
    ("deadletter.json", broken(DEAD, ("received_at_ms",), 1749106730.5)),
]


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_derived_and_deadletter_examples_validate(name):
    model, examples = DERIVED[name]
    for record in examples:
        assert_valid(name, model, record)


@pytest.mark.parametrize(("name", "record"), DERIVED_BREAKAGES, ids=lambda v: v if isinstance(v, str) else "")
def test_broken_derived_and_deadletter_records_fail(name, record):
    assert_invalid(name, DERIVED[name][0], record)


def test_pipeline_deadletters_validate():
    """The dead letters of a bad body, as the worker writes them (pipeline.process.deadletter_record)."""
    body = orjson.dumps({"topic": "zone", "events": [{"zone_id": "z"}, "not an event"]})
    for raw, topic in ((body, "zone"), (b"{not json", "zone")):
        for dead in parse_body(raw, topic).dead:
            record = orjson.loads(deadletter_record(dead, SOURCE, 1749106730123))
            assert_valid("deadletter.json", DeadLetterRecord, record)


def test_derived_models_round_trip_through_json():
    visit = ZoneVisit.model_validate(VISIT)
    assert json.loads(visit.model_dump_json()) == VISIT
    window = RssiWindow.model_validate(WINDOW)
    assert validator("derived/rssi.windows.json").is_valid(json.loads(window.model_dump_json()))
    assert ZoneVisit(**{**VISIT, "retracted": False}).retracted is False
    assert ZoneVisit.model_validate({k: v for k, v in VISIT.items() if k != "retracted"}).retracted is False


# -- the CLI and the README ----------------------------------------------------------------------------------


def test_cli_prints_every_schema():
    result = run_cli("schemas")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == SCHEMAS


def test_cli_writes_schema_files(tmp_path):
    out = tmp_path / "schemas"
    result = run_cli("schemas", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(str(out / name) for name in SCHEMAS)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.json"))
    assert written == sorted(SCHEMAS)
    for name in SCHEMAS:
        schema = json.loads((out / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema == SCHEMAS[name]


def test_readme_lists_every_schema_and_topic():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Derived topics and their schemas", 1)[1].split("\n## ", 1)[0]
    for name in SCHEMAS:
        assert f"schemas/{name}" in section, name
    for topic in CATALOGUE:
        assert f"-t mist.{topic}.enriched " in section, topic
    for topic in ("mist.zone.visits", "mist.rssi.windows", "mist.deadletter"):
        assert f"-t {topic} " in section, topic
