"""Prometheus metrics of one ingest app, in a registry of its own (tests build several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mistpipe_ingest_requests",
            "Webhook POSTs answered, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        # Labelled by Kafka topic: a bounded set (the catalogue and unrouted), unlike Mist's topic as sent.
        self.events = Counter(
            "mistpipe_ingest_events",
            "Mist events accepted into Kafka, by Kafka topic",
            ["topic"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "mistpipe_ingest_produce_seconds",
            "Time from produce to Kafka's ack (acks=all)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.bytes_in = Counter(
            "mistpipe_ingest_body_bytes", "Webhook body bytes read", registry=self.registry
        )
        self.inflight = Gauge(
            "mistpipe_ingest_inflight_requests", "Webhook POSTs being handled", registry=self.registry
        )
