"""Kafka topic names. Every function takes the deployment's prefix, ``mist.`` by default."""

from __future__ import annotations

import re
from dataclasses import dataclass

from topics.catalogue import CATALOGUE, normalise_topic

DEFAULT_PREFIX = "mist."

# Kafka's legal topic characters; a topic name is at most 249 of them.
_LEGAL = re.compile(r"[A-Za-z0-9._-]*")
_MAX_TOPIC_LENGTH = 249


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A Kafka topic the deployment needs; ``compacted`` topics keep the latest record per key."""

    name: str
    compacted: bool


def _name(prefix: str, suffix: str) -> str:
    name = prefix + suffix
    if not _LEGAL.fullmatch(name) or len(name) > _MAX_TOPIC_LENGTH:
        raise ValueError(f"not a legal Kafka topic name: {name!r}")
    return name


def _catalogued(mist_topic: str) -> str:
    # Topic names come from outside input (the webhook body): never derive one from a topic Mist may not send.
    name = normalise_topic(mist_topic)
    if name not in CATALOGUE:
        raise KeyError(f"not a catalogued Mist topic: {mist_topic!r}")
    return name


def raw_topic(mist_topic: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Raw webhook bodies of a Mist topic, verbatim: ``mist.location``."""
    return _name(prefix, _catalogued(mist_topic))


def enriched_topic(mist_topic: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Parsed and enriched events of a Mist topic, one record per event: ``mist.location.enriched``."""
    return _name(prefix, _catalogued(mist_topic) + ".enriched")


def by_site_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Pipeline-internal: the events of a body that mixes sites (an org webhook's alarms, audits, client and
    device events), split into one body per site, keyed by the site. The worker keeps its state per site
    partition, where every copy of an event meets (the org and the site webhook, retries)."""
    return _name(prefix, "by-site")


def unrouted_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Bodies whose topic is not in the catalogue, verbatim."""
    return _name(prefix, "unrouted")


def deadletter_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Events that could not be parsed, with the reason."""
    return _name(prefix, "deadletter")


def ref_sites_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Sites as ``GET /api/v1/orgs/:org_id/sites`` returns them, keyed by site id (compacted)."""
    return _name(prefix, "ref.sites")


def ref_maps_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Maps as ``GET /api/v1/sites/:site_id/maps`` returns them, keyed by map id (compacted)."""
    return _name(prefix, "ref.maps")


def ref_zones_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Zones as ``GET /api/v1/sites/:site_id/zones`` returns them, keyed by zone id (compacted)."""
    return _name(prefix, "ref.zones")


def zone_visits_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Derived: completed zone visits (enter → exit)."""
    return _name(prefix, "zone.visits")


def rssi_windows_topic(prefix: str = DEFAULT_PREFIX) -> str:
    """Derived: RSSI aggregated per beacon over event-time windows."""
    return _name(prefix, "rssi.windows")


# The names under the default prefix.
BY_SITE = by_site_topic()
UNROUTED = unrouted_topic()
DEADLETTER = deadletter_topic()
REF_SITES = ref_sites_topic()
REF_MAPS = ref_maps_topic()
REF_ZONES = ref_zones_topic()
ZONE_VISITS = zone_visits_topic()
RSSI_WINDOWS = rssi_windows_topic()


def all_topics(prefix: str = DEFAULT_PREFIX) -> list[TopicSpec]:
    """Every topic to create up front: raw and enriched per catalogued topic, unrouted, deadletter, the
    compacted reference topics, the derived ones. Stable order, no duplicates."""
    names = [raw_topic(t, prefix) for t in CATALOGUE]
    names += [enriched_topic(t, prefix) for t in CATALOGUE]
    names += [by_site_topic(prefix), unrouted_topic(prefix), deadletter_topic(prefix)]
    refs = [ref_sites_topic(prefix), ref_maps_topic(prefix), ref_zones_topic(prefix)]
    derived = [zone_visits_topic(prefix), rssi_windows_topic(prefix)]
    specs = [TopicSpec(n, False) for n in names] + [TopicSpec(n, True) for n in refs]
    specs += [TopicSpec(n, False) for n in derived]
    if len({s.name for s in specs}) != len(specs):  # a Mist topic named like a fixed one would collide
        raise ValueError("duplicate Kafka topic names")
    return specs
