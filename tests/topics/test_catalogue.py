import ast
import dataclasses
from pathlib import Path

import pytest

import topics
from topics.catalogue import CATALOGUE, SPEC_TOPICS, MistTopic, lookup, model_for, normalise_topic
from topics.models import MistEvent

SPEC = {
    "alarms", "asset-raw", "audits", "client-join", "client-sessions", "device-events", "device-updowns",
    "discovered-raw-rssi", "location", "occupancy-alerts", "ping", "sdkclient-scan-data", "zone",
}  # fmt: skip
SAMPLED = {
    "asset-raw-rssi", "client-info", "location-asset", "location-centrak", "location-client", "location-sdk",
    "location-unclient", "rssizone", "site-sle", "wifi-conn-raw", "wifi-unconn-raw",
}  # fmt: skip
UNSAMPLED = {
    "client-latency",
    "guest-authorizations",
    "mxedge-events",
    "nac-accounting",
    "nac-events",
    "vbeacon",
}
# Topics newer than the spec the project started from, known from the corpus of published bodies.
NEWER = {"minis-application", "minis-reachability"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("location_asset", "location-asset"),
        ("location-asset", "location-asset"),
        ("  Location_Asset\n", "location-asset"),
        ("DEVICE_UPDOWNS", "device-updowns"),
        ("zone", "zone"),
    ],
)
def test_normalise_topic(name, expected):
    assert normalise_topic(name) == expected


def test_catalogue_covers_every_topic_once():
    assert set(CATALOGUE) == SPEC | SAMPLED | UNSAMPLED | NEWER
    assert len(CATALOGUE) == 32
    assert SPEC_TOPICS == SPEC


def test_catalogue_names_are_normalised_and_keys_match():
    for key, topic in CATALOGUE.items():
        assert key == topic.name == normalise_topic(topic.name)


def test_every_key_field_is_a_declared_field_of_the_model():
    for topic in CATALOGUE.values():
        assert topic.key_fields
        assert issubclass(topic.model, MistEvent)
        assert set(topic.key_fields) <= set(topic.model.model_fields), topic.name


def test_every_needed_field_is_a_declared_field_of_the_model():
    for topic in CATALOGUE.values():
        for need in topic.needs:
            assert need.fields and need.why, topic.name
            assert set(need.fields) <= set(topic.model.model_fields), topic.name


def test_no_field_of_a_model_is_required_by_pydantic():
    # What an event needs is the catalogue's to say (MistTopic.needs); the models take any subset of fields.
    for topic in CATALOGUE.values():
        assert topic.model.model_validate({}).model_dump(exclude_unset=True) == {}, topic.name


def test_location_topics_are_site_level_infrastructure_topics_are_not():
    for name in ("location", "location-asset", "zone", "rssizone", "discovered-raw-rssi", "wifi-conn-raw"):
        assert CATALOGUE[name].site_level
    for name in ("alarms", "audits", "client-join", "client-sessions", "device-events", "device-updowns"):
        assert not CATALOGUE[name].site_level


@pytest.mark.parametrize("name", ["location_asset", "LOCATION-ASSET", " location-asset "])
def test_lookup_normalises(name):
    assert lookup(name) is CATALOGUE["location-asset"]


@pytest.mark.parametrize("name", ["nope", "", "location.enriched", "mist.location", "unrouted"])
def test_lookup_unknown_is_none(name):
    assert lookup(name) is None


def test_mist_topic_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATALOGUE["zone"].name = "other"  # type: ignore[misc]
    assert isinstance(CATALOGUE["zone"], MistTopic)


def test_model_for():
    assert model_for("location_asset") is CATALOGUE["location-asset"].model
    with pytest.raises(KeyError, match="nope"):
        model_for("nope")


def test_model_for_is_reachable_from_models_package():
    from topics.models import model_for as from_models

    assert from_models is model_for


def test_topics_depends_only_on_pydantic_and_orjson():
    # The contract is shared by the ingest and the pipeline: it imports neither side, nor Faust.
    allowed = {"__future__", "dataclasses", "enum", "re", "typing", "pydantic", "pydantic_core", "orjson"}
    allowed |= {"topics", "collections", "datetime", "functools"}
    root = Path(topics.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, (path, name)


def needs_table() -> str:
    """The README's table of what each topic needs, from the catalogue (topics with the same needs share a
    row)."""
    groups: dict[tuple, list[MistTopic]] = {}
    for topic in CATALOGUE.values():
        groups.setdefault(tuple((n.fields, n.why, n.identity) for n in topic.needs), []).append(topic)
    rows = ["| topics | an event is dead-lettered without |", "|---|---|"]
    for key, members in groups.items():
        names = ", ".join(f"`{t.name}`" for t in members)
        needs = "; ".join(f"{n.describe()} — {n.why}" for n in members[0].needs)
        rows.append(f"| {names} | {needs if key else 'nothing: every field is optional'} |")
    return "\n".join(rows)


def test_readme_says_what_each_topic_needs():
    readme = (Path(topics.__file__).parents[1] / "README.md").read_text()
    assert needs_table() in readme.split("### What an event needs", 1)[1]
