import pytest

from topics.catalogue import CATALOGUE
from topics.names import (
    DEADLETTER,
    DEFAULT_PREFIX,
    REF_MAPS,
    REF_SITES,
    REF_ZONES,
    RSSI_WINDOWS,
    UNROUTED,
    ZONE_VISITS,
    TopicSpec,
    all_topics,
    deadletter_topic,
    enriched_topic,
    raw_topic,
    ref_maps_topic,
    ref_sites_topic,
    ref_zones_topic,
    rssi_windows_topic,
    unrouted_topic,
    zone_visits_topic,
)


def test_raw_and_enriched():
    assert DEFAULT_PREFIX == "mist."
    assert raw_topic("location") == "mist.location"
    assert enriched_topic("location") == "mist.location.enriched"
    assert raw_topic("discovered-raw-rssi") == "mist.discovered-raw-rssi"


def test_mist_spellings_are_normalised():
    assert raw_topic("location_asset") == "mist.location-asset"
    assert enriched_topic("LOCATION_ASSET") == "mist.location-asset.enriched"


def test_prefix():
    assert raw_topic("zone", "acme.mist.") == "acme.mist.zone"
    assert enriched_topic("zone", prefix="") == "zone.enriched"
    assert unrouted_topic("acme.") == "acme.unrouted"


def test_unknown_topic_gets_no_name():
    # A topic Mist did not document must go to unrouted, never create a topic of its own.
    with pytest.raises(KeyError):
        raw_topic("evil")
    with pytest.raises(KeyError):
        enriched_topic("../etc")


@pytest.mark.parametrize("prefix", ["mist/", "mist ", "mïst.", "x" * 250])
def test_illegal_prefix(prefix):
    with pytest.raises(ValueError, match="Kafka topic name"):
        raw_topic("zone", prefix)


def test_fixed_topics():
    assert (UNROUTED, DEADLETTER) == ("mist.unrouted", "mist.deadletter")
    assert (REF_SITES, REF_MAPS, REF_ZONES) == ("mist.ref.sites", "mist.ref.maps", "mist.ref.zones")
    assert (ZONE_VISITS, RSSI_WINDOWS) == ("mist.zone.visits", "mist.rssi.windows")
    assert unrouted_topic() == UNROUTED and deadletter_topic() == DEADLETTER
    assert (ref_sites_topic(), ref_maps_topic(), ref_zones_topic()) == (REF_SITES, REF_MAPS, REF_ZONES)
    assert (zone_visits_topic(), rssi_windows_topic()) == (ZONE_VISITS, RSSI_WINDOWS)


def test_all_topics_contents():
    specs = all_topics()
    names = [s.name for s in specs]
    assert len(names) == len(set(names)) == 2 * len(CATALOGUE) + 3 + 3 + 2
    for t in CATALOGUE:
        assert f"mist.{t}" in names and f"mist.{t}.enriched" in names
    compacted = {s.name for s in specs if s.compacted}
    assert compacted == {"mist.ref.sites", "mist.ref.maps", "mist.ref.zones"}
    for name in ("mist.by-site", "mist.unrouted", "mist.deadletter", "mist.zone.visits", "mist.rssi.windows"):
        assert TopicSpec(name, False) in specs


def test_all_topics_order_is_stable():
    specs = all_topics()
    assert specs == all_topics()
    assert specs[0] == TopicSpec("mist.alarms", False)  # catalogue order: raw, enriched, then the fixed ones
    assert specs[len(CATALOGUE)] == TopicSpec("mist.alarms.enriched", False)
    assert [s.name for s in specs[-8:]] == [
        "mist.by-site",
        "mist.unrouted",
        "mist.deadletter",
        "mist.ref.sites",
        "mist.ref.maps",
        "mist.ref.zones",
        "mist.zone.visits",
        "mist.rssi.windows",
    ]


def test_all_topics_prefix():
    assert all(s.name.startswith("acme.") for s in all_topics("acme."))


def test_topic_spec_is_frozen():
    spec = TopicSpec("mist.zone", False)
    with pytest.raises(AttributeError):
        spec.compacted = True  # type: ignore[misc]
