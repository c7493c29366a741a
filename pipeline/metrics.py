"""Prometheus metrics of the worker, served at /metrics on its web port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class TopicCounters:
    """A Mist topic's counters, looked up once: `labels()` costs more than the count itself."""

    __slots__ = ("bodies_in", "dead_lettered", "duplicates", "events_in", "events_out")

    def __init__(self, metrics: PipelineMetrics, topic: str) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(metrics, name).labels(topic))


class PipelineMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._topics: dict[str, TopicCounters] = {}
        r = self.registry
        self.bodies_in = Counter(
            "mistpipe_worker_bodies_in", "Raw webhook bodies read", ["topic"], registry=r
        )
        self.events_in = Counter("mistpipe_worker_events_in", "Valid events parsed", ["topic"], registry=r)
        self.events_out = Counter(
            "mistpipe_worker_events_out", "Events published to enriched topics", ["topic"], registry=r
        )
        self.dead_lettered = Counter(
            "mistpipe_worker_dead_lettered",
            "Events or bodies sent to the dead-letter topic",
            ["topic"],
            registry=r,
        )
        self.field_warnings = Counter(
            "mistpipe_worker_field_warnings",
            "Fields of published events kept as received because they did not fit their type",
            ["topic", "field"],
            registry=r,
        )
        self.duplicates = Counter(
            "mistpipe_worker_duplicates", "Events dropped as already seen", ["topic"], registry=r
        )
        self.not_enriched = Counter(
            "mistpipe_worker_not_enriched",
            "Events published without some reference data (site, map or zone unknown)",
            ["topic", "missing"],
            registry=r,
        )
        self.dedupe_keys = Gauge(
            "mistpipe_worker_dedupe_keys", "Event fingerprints held for deduplication", registry=r
        )
        self.zone_exits_ignored = Counter(
            "mistpipe_worker_zone_exits_ignored",
            "Zone exits seen without an enter before them (when they arrived)",
            ["topic"],
            registry=r,
        )
        self.processing_errors = Counter(
            "mistpipe_worker_processing_errors",
            "Records that failed unexpectedly, sent to the dead-letter topic",
            ["stage"],
            registry=r,
        )
        self.produce_failures = Counter(
            "mistpipe_worker_produce_failures",
            "Records Kafka did not take (after the producer's retries), by Kafka topic",
            ["topic"],
            registry=r,
        )
        self.expired = Counter(
            "mistpipe_worker_expired_keys", "Table keys expired and tombstoned", ["table"], registry=r
        )
        self.table_keys = Gauge(
            "mistpipe_worker_table_keys",
            "Keys of each aggregate table held for the partitions this worker owns",
            ["table"],
            registry=r,
        )

    def of(self, topic: str) -> TopicCounters:
        counters = self._topics.get(topic)
        if counters is None:
            counters = self._topics[topic] = TopicCounters(self, topic)
        return counters

    def render(self) -> bytes:
        return generate_latest(self.registry)
