"""One pass per raw body: parse, deduplicate, enrich, publish, aggregate. No Faust here; no await either.

Mist's location, zone and raw-RSSI webhooks are site-scoped, and every copy of an event (the org and the site
webhook on one URL, a retry) carries the same site: the ingest keys a body by its site, and the state of a
site lives on the site's partition, where every copy of its events meets. A body whose events belong to
several sites (an org webhook's alarms, audits, client and device events) is split into one body per site,
written to `mist.by-site`, keyed by the site, and processed from there.

A body is processed without awaiting anything: records go to librdkafka's queue, state is in memory. So a
commit (which snapshots the state) always falls between two bodies, and the marks it writes ("this value
holds every event of these offsets", state.py) are exact. A body read again after a crash at or below the
dedupe marks, which a commit writes last (after the records and the state), is skipped whole.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.aggregates import Aggregates
from pipeline.aggregates.windows import MAX_AHEAD_S
from pipeline.dedupe import Seen
from pipeline.enrich import Infos, enrich, envelope
from pipeline.metrics import PipelineMetrics
from pipeline.output import Output
from pipeline.parse import DeadLetter, ParsedEvent, parse_body, validated_view
from pipeline.reference import ReferenceData
from pipeline.state import State
from topics import headers as h
from topics.catalogue import CATALOGUE
from topics.names import by_site_topic, deadletter_topic, enriched_topic, raw_topic
from topics.serde import encode_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Source:
    """The raw record a body came from: the provenance of its events (`mist.source`)."""

    topic: str
    partition: int
    offset: int

    def of(self, index: int) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "index": index}


def site_of(event: Mapping[str, Any]) -> str | None:
    """The key of an event's state: its site, else its org (org-level events), else none."""
    site = event.get("site_id")
    if isinstance(site, str) and site:
        return site
    org = event.get("org_id")
    return org if isinstance(org, str) and org else None


def _header(headers: Any, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def deadletter_record(dead: DeadLetter, source: dict[str, Any], received_at_ms: int | None) -> bytes:
    return orjson.dumps(
        {
            "mist_topic": dead.mist_topic,
            "errors": dead.errors,
            "event": dead.event,
            "body": dead.body,
            "index": dead.index,
            "source": source,
            "received_at_ms": received_at_ms,
        }
    )


class Pass:
    """The worker's pass over raw bodies, with the progress that the next commit's marks record."""

    def __init__(
        self,
        prefix: str,
        output: Output,
        refs: ReferenceData,
        aggregates: Aggregates,
        dedupe: State,
        metrics: PipelineMetrics,
        horizon_s: float,
    ) -> None:
        self.output = output
        self.refs = refs
        self.aggregates = aggregates
        self.dedupe = dedupe
        self.seen = Seen(dedupe, horizon_s)
        self.infos = Infos()
        self.metrics = metrics
        self.horizon_s = horizon_s
        self.mist_topics = {raw_topic(t, prefix): t for t in CATALOGUE}
        self.by_site = by_site_topic(prefix)
        self.deadletter = deadletter_topic(prefix)
        self.enriched = {t: enriched_topic(t, prefix) for t in CATALOGUE}
        self.progress: dict[int, dict[str, int]] = {}  # partition -> source topic -> newest offset done
        self._counts: dict[str, Callable[..., Any]] = {}

    @property
    def source_topics(self) -> list[str]:
        return [*self.mist_topics, self.by_site]

    def commit_steps(self) -> list[list[tuple[str, int, str, Any]]]:
        """What a commit writes, in order, each step acknowledged before the next: every state's changes
        since the last commit (with its marks), then the dedupe marks. As (changelog, partition, key,
        value or None); the progress since the last commit is taken."""
        progress, self.progress = self.progress, {}
        changes = []
        for s in self.aggregates.states():
            changelog = s.changelog
            changes += [(changelog, *r) for r in s.snapshot(progress)]
        changelog = self.dedupe.changelog
        marks = [(changelog, *r) for r in self.dedupe.snapshot(progress)]
        self.seen.close()
        return [changes, marks]

    def body(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes, headers: Any
    ) -> None:
        """Process one raw (or by-site) record."""
        if offset <= self.dedupe.held(partition, topic):
            return  # read again: every state and every output of it were written before the dedupe marks
        received = _header(headers, h.RECEIVED_AT_MS)
        received_at_ms = int(received) if received and received.isdigit() else None
        if topic == self.by_site:
            self._by_site(partition, offset, value, headers, received_at_ms)
        else:
            mist_topic = self.mist_topics[topic]
            self.metrics.of(mist_topic).bodies_in.inc()
            body = parse_body(value, mist_topic)
            source = Source(topic, partition, offset)
            for dead in body.dead:
                self._dead(mist_topic, dead, source, received_at_ms)
            if body.events:
                sites = {site_of(e.event) for e in body.events}
                if len(sites) == 1 and encode_key(next(iter(sites))) == key:
                    self._events(partition, topic, offset, mist_topic, body.events, source, received_at_ms)
                else:
                    self._split(value, mist_topic, body.events, source, received_at_ms)
        self.progress.setdefault(partition, {})[topic] = offset

    def _dead(self, mist_topic: str, dead: DeadLetter, source: Source, received_at_ms: int | None) -> None:
        self.metrics.of(mist_topic).dead_lettered.inc()
        where = {"topic": source.topic, "partition": source.partition, "offset": source.offset}
        self.output.send(
            self.deadletter, encode_key(mist_topic), deadletter_record(dead, where, received_at_ms)
        )

    def _split(
        self,
        raw: bytes,
        mist_topic: str,
        events: list[ParsedEvent],
        source: Source,
        received_at_ms: int | None,
    ) -> None:
        """A body of several sites (or keyed by none): one body per site on mist.by-site, keyed by the site,
        with the events as they came and where they came from."""
        received = orjson.loads(raw)["events"]
        by_site: dict[str | None, list[int]] = {}
        for event in events:
            by_site.setdefault(site_of(event.event), []).append(event.index)
        for site, indexes in by_site.items():
            headers = [
                (h.MIST_TOPIC, mist_topic.encode()),
                (h.SOURCE, f"{source.topic}:{source.partition}:{source.offset}".encode()),
                (h.INDEXES, orjson.dumps(indexes)),
            ]
            if received_at_ms is not None:
                headers.append((h.RECEIVED_AT_MS, str(received_at_ms).encode()))
            body = orjson.dumps({"topic": mist_topic, "events": [received[i] for i in indexes]})
            self.output.send(self.by_site, encode_key(site), body, headers=headers)

    def _by_site(
        self, partition: int, offset: int, value: bytes, headers: Any, received_at_ms: int | None
    ) -> None:
        mist_topic = (_header(headers, h.MIST_TOPIC) or b"").decode()
        topic, part, at = (_header(headers, h.SOURCE) or b"::").decode().rsplit(":", 2)
        indexes = orjson.loads(_header(headers, h.INDEXES) or b"[]")
        body = parse_body(value, mist_topic)
        for event in body.events:  # positions in the raw body, not in this part of it
            event.index = indexes[event.index]
        source = Source(topic, int(part), int(at))
        self._events(partition, self.by_site, offset, mist_topic, body.events, source, received_at_ms)

    def _events(
        self,
        partition: int,
        topic: str,
        offset: int,
        mist_topic: str,
        events: list[ParsedEvent],
        source: Source,
        received_at_ms: int | None,
    ) -> None:
        wall = time.time()
        metrics = self.metrics
        counters = metrics.of(mist_topic)
        counters.events_in.inc(len(events))
        aggregates = self.aggregates.of(mist_topic)
        read_at = (topic, offset)
        refs = self.refs
        infos = self.infos
        horizon = self.horizon_s
        seen = self.seen
        out = self.output
        out_topic = self.enriched[mist_topic]
        duplicates = published = 0
        latest = wall + MAX_AHEAD_S  # a later event time is no Kafka timestamp (windows.record_time_ms)
        send = out.send_keyed
        for event in events:
            if horizon > 0 and seen.seen(partition, event.fingerprint):
                duplicates += 1
                continue
            data = event.event
            warnings = event.warnings
            valid = validated_view(mist_topic, data, warnings) if warnings else data
            for warning in warnings:
                metrics.field_warnings.labels(mist_topic, warning["field"].partition(".")[0]).inc()
            extra, missing = enrich(mist_topic, valid, refs.sites, refs.maps, refs.zones, infos)
            if missing:
                metrics.not_enriched.labels(mist_topic, ",".join(missing)).inc()
            record = envelope(
                mist_topic,
                data,
                extra,
                missing,
                source.of(event.index),
                received_at_ms,
                warnings,
                event.original,
            )
            ts = event.timestamp
            send(
                out_topic,
                orjson.dumps(event.key),
                orjson.dumps(record),
                int(ts * 1000) if ts is not None and 0 <= ts <= latest else 0,
            )
            published += 1
            if horizon > 0:
                seen.add(partition, event.fingerprint, wall)
            if aggregates:
                view = record if valid is data else {**valid, **extra, "mist": record["mist"]}
                for aggregate in aggregates:
                    aggregate.apply(partition, mist_topic, view, wall, read_at)
        if published:
            counters.events_out.inc(published)
        if duplicates:
            counters.duplicates.inc(duplicates)
