"""The contract between the HTTP ingest and the Faust pipeline: Mist topics, event models, Kafka topic
names, record keys and wire format. Pure Python, pydantic and orjson; imports neither ingest nor pipeline."""

from topics.catalogue import CATALOGUE, SPEC_TOPICS, MistTopic, lookup, model_for, normalise_topic
from topics.keys import entity_key
from topics.models import MistEvent, WebhookBody
from topics.names import (
    DEFAULT_PREFIX,
    TopicSpec,
    all_topics,
    deadletter_topic,
    enriched_topic,
    parsed_topic,
    raw_topic,
    ref_maps_topic,
    ref_sites_topic,
    ref_zones_topic,
    rssi_windows_topic,
    unrouted_topic,
    zone_visits_topic,
)
from topics.serde import decode_key, dumps, encode_key, loads

__all__ = [
    "CATALOGUE",
    "DEFAULT_PREFIX",
    "SPEC_TOPICS",
    "MistEvent",
    "MistTopic",
    "TopicSpec",
    "WebhookBody",
    "all_topics",
    "deadletter_topic",
    "decode_key",
    "dumps",
    "encode_key",
    "enriched_topic",
    "entity_key",
    "loads",
    "lookup",
    "model_for",
    "normalise_topic",
    "parsed_topic",
    "raw_topic",
    "ref_maps_topic",
    "ref_sites_topic",
    "ref_zones_topic",
    "rssi_windows_topic",
    "unrouted_topic",
    "zone_visits_topic",
]
