"""The Faust app: topics, tables and the agents that wire the pure stages (parse, enrich) together.

    mist.<topic> ──parse──▶ mist.parsed (keyed by entity) ──dedupe, enrich──▶ mist.<topic>.enriched
         └──────────────▶ mist.deadletter    reference data ─┘   └──aggregate (tables.py)──▶ tables

Agents are thin: the logic lives in parse.py, dedupe.py, enrich.py and aggregate.py. Stateful agents run at
concurrency=1 (faust-streaming #606: with more, a commit can pass a message still in flight); scale with
partitions.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import faust
import orjson

from mistpipe.settings import Settings
from pipeline import faustfix
from pipeline.dedupe import publish_once
from pipeline.enrich import enrich
from pipeline.expiry import ExpiryIndex, expire_due
from pipeline.floor import wire_floor
from pipeline.guard import each
from pipeline.metrics import PipelineMetrics
from pipeline.parse import DeadLetter, parse_body, validated_view
from pipeline.produce import Sink
from pipeline.reference import ReferenceData, follow
from pipeline.tables import Aggregates, record_time, wire_aggregates
from pipeline.views import wire_views
from topics import headers
from topics.catalogue import CATALOGUE
from topics.names import (
    deadletter_topic,
    enriched_topic,
    parsed_topic,
    raw_topic,
)

log = logging.getLogger(__name__)

# RocksDB's default block cache is 2 GiB per table partition, and its write buffers 3 x 64 MiB: sized down
# for a small machine, where a worker holds a few tables x 8 partitions.
ROCKSDB_OPTIONS = {
    "block_cache_size": 8 * 1024 * 1024,
    "block_cache_compressed_size": 0,
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
}
EXPIRY_INTERVAL_S = 5.0


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def canonical_host(bind: str) -> str:
    """The host other workers reach this one at (table_route forwards queries there)."""
    return socket.gethostname() if bind in ("0.0.0.0", "::", "") else bind


def _header(message: Any, name: str) -> bytes | None:
    for key, value in message.headers or ():
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


@dataclass
class Pipeline:
    """The app and what tests and the CLI reach into."""

    app: faust.App
    settings: Settings
    metrics: PipelineMetrics
    tables: dict[str, Any] = field(default_factory=dict)
    refs: ReferenceData = field(default_factory=ReferenceData)
    aggs: Aggregates | None = None
    processing_error: Callable[[str, Any, Exception], Awaitable[None]] | None = None
    dedupe_index: ExpiryIndex = field(default_factory=ExpiryIndex)


faustfix.apply()  # commits wait for every changelog record (see faustfix.py)


def create_app(settings: Settings, *, store: str | None = None) -> Pipeline:
    """Build the worker's Faust app. `store` defaults to RocksDB; unit tests may pass "memory://"."""
    store = store or "rocksdb://"
    app_id = settings.app_id
    prefix = settings.topic_prefix
    # Per app and web port: two workers on one host (tests, or a rolling restart) never share a RocksDB.
    datadir = Path(settings.state_dir).resolve() / f"worker-{app_id}-{settings.web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        store=store,
        topic_partitions=settings.partitions,
        topic_disable_leader=True,  # no on_leader tasks here: skip the leader-election topic
        datadir=str(datadir),
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=canonical_host(settings.web_bind),
        web_tables_enabled=False,  # no raw table dumps at /table/...
        # Nor Faust's other built-in pages, which the query token does not guard: /router/ (the cluster's
        # hosts and partitions; our views route by themselves), statistics, the service graph.
        web_router_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
        # How soon a crashed worker's partitions go to the others (heartbeats: a third of it at most).
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_interval=settings.commit_interval_s,
        producer_acks=-1,
        autodiscover=False,
        logging_config=None,
    )
    metrics = PipelineMetrics()
    # Every record the agents write goes straight to Faust's producer (see produce.py).
    sink = Sink(app, on_failed=lambda topic: metrics.produce_failures.labels(topic).inc())
    sink.install()
    pipeline = Pipeline(app, settings, metrics)
    table_options = ROCKSDB_OPTIONS if store.startswith("rocksdb") else None

    # -- topics ------------------------------------------------------------------------------------------
    raw_names = {raw_topic(t, prefix): t for t in CATALOGUE}
    raw = app.topic(
        *raw_names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    # Keys are JSON strings end to end (topics.serde), as the tables' keys, so table_route finds owners.
    def keyed(name: str) -> Any:
        return app.topic(name, key_type=str, value_type=bytes, key_serializer="json", value_serializer="raw")

    parsed = keyed(parsed_topic(prefix))
    parsed_name = parsed.get_topic_name()
    deadletter_name = deadletter_topic(prefix)
    enriched_names = {t: enriched_topic(t, prefix) for t in CATALOGUE}

    # -- tables ------------------------------------------------------------------------------------------
    # Reference data: every worker reads all of mist.ref.* and keeps reading (pipeline.reference.follow).
    # Not Faust GlobalTables: in faust-streaming 0.15 a GlobalTable over a topic of our own naming hangs the
    # rebalance (its assignor looks the changelog up by the default `<app>-<table>-changelog` name), and
    # once worked around, records written after the worker started were never applied to the table.
    refs = ReferenceData()
    pipeline.refs = refs

    @app.task
    async def follow_reference() -> None:
        await follow(settings.kafka_bootstrap, prefix, refs)

    # fingerprint -> [first seen (epoch s), partition]; bounded by the dedupe horizon (see expiry.py).
    dedupe = app.Table("dedupe", key_type=str, options=table_options)
    sink.changelog(dedupe, after_acks=True)  # a mark never reaches Kafka before what it vouches for
    pipeline.tables.update(dedupe=dedupe)

    # -- agents ------------------------------------------------------------------------------------------
    async def processing_error(stage: str, event: Any, exc: Exception) -> None:
        """An unexpected error on one record (a bug, a value no test foresaw): the record goes to the
        dead-letter topic with the reason, and the agent goes on. Never a crash, never a silent drop."""
        message = event.message
        metrics.processing_errors.labels(stage).inc()
        log.exception("%s: cannot process %s[%d]@%d", stage, message.topic, message.partition, message.offset)
        value = event.value if isinstance(event.value, bytes) else orjson.dumps(event.value)
        error = {
            "field": None,
            "message": f"{stage}: {type(exc).__name__}: {exc}"[:1000],
            "type": "processing",
        }
        dead = DeadLetter(None, [error], body=value[:65536].decode("utf-8", errors="replace"))
        source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        received_at_ms = int(message.timestamp * 1000)
        await sink.send(deadletter_name, stage, deadletter_record(dead, source, received_at_ms))

    pipeline.processing_error = processing_error

    async def parse_one(event: Any) -> None:
        message = event.message
        mist_topic = raw_names[message.topic]
        metrics.bodies_in.labels(mist_topic).inc()
        received = _header(message, headers.RECEIVED_AT_MS)
        received_at_ms = int(received) if received and received.isdigit() else int(message.timestamp * 1000)
        source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        body = parse_body(event.value, mist_topic)
        for e in body.events:
            record = {"t": e.mist_topic, "e": e.event, "ts": e.timestamp, "fp": e.fingerprint}
            record.update(src={**source, "index": e.index}, rx=received_at_ms)
            if e.warnings:
                record["w"] = e.warnings
                for warning in e.warnings:
                    metrics.field_warnings.labels(mist_topic, warning["field"].partition(".")[0]).inc()
            if e.original:
                record["o"] = e.original
            await sink.send(parsed_name, e.key, orjson.dumps(record), timestamp=record_time(e.timestamp))
        if body.events:
            metrics.events_in.labels(mist_topic).inc(len(body.events))
        for dead in body.dead:
            metrics.dead_lettered.labels(mist_topic).inc()
            await sink.send(deadletter_name, mist_topic, deadletter_record(dead, source, received_at_ms))

    @app.agent(raw, concurrency=1)
    async def parse(stream: Any) -> None:
        """Raw bodies → one record per valid event on mist.parsed; the rest to the dead-letter topic."""
        await each(stream, "parse", parse_one, processing_error)

    horizon = settings.dedupe_seconds

    def mark_seen(fp: str, partition: int) -> None:
        now = time.time()
        # What Table.__setitem__ does, without its per-record sensors: the store, then the changelog.
        dedupe.data[fp] = [now, partition]
        dedupe.send_changelog(partition, fp, [now, partition])
        pipeline.dedupe_index.add(now + horizon, partition, fp)

    async def enrich_one(event: Any) -> None:
        record = orjson.loads(event.value)
        mist_topic = record["t"]

        async def publish() -> None:
            data = record["e"]
            warnings = record.get("w", [])
            # Values kept as received because they failed their type are not computed with: not here
            # (a site_id that is an object), not in the aggregates.
            valid = validated_view(mist_topic, data, warnings)
            extra, missing = enrich(mist_topic, valid, refs.sites, refs.maps, refs.zones)
            out = {**data, **extra}
            out["mist"] = {
                "topic": mist_topic,
                "enriched": not missing,
                "missing": missing,
                "source": record["src"],
                "received_at_ms": record["rx"],
                "warnings": warnings,
            }
            if "o" in record:
                out["mist"]["original"] = record["o"]
            if missing:
                metrics.not_enriched.labels(mist_topic, ",".join(missing)).inc()
            value = orjson.dumps(out)
            await sink.send(enriched_names[mist_topic], event.key, value, timestamp=record_time(record["ts"]))
            metrics.events_out.labels(mist_topic).inc()
            # The tables, from the record as published (what a reader of the enriched topic gets), before
            # the event is marked seen: a worker that stops in between counts it again, idempotently.
            await aggs.apply(mist_topic, validated_view(mist_topic, orjson.loads(value), warnings), event)

        if horizon <= 0:
            await publish()
        elif not await publish_once(
            record["fp"], dedupe, publish, partial(mark_seen, partition=event.message.partition)
        ):
            metrics.duplicates.labels(mist_topic).inc()

    @app.agent(parsed, concurrency=1)
    async def enrich_events(stream: Any) -> None:
        """Drop events seen within the horizon, enrich the rest, publish them keyed by entity."""
        await refs.ready.wait()  # no event is enriched against half-read reference data
        await each(stream, "enrich", enrich_one, processing_error)

    # -- bounded dedupe state ----------------------------------------------------------------------------
    def active_partitions(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    @dedupe.on_recover
    async def rebuild_dedupe_index() -> None:
        mine = active_partitions(parsed.get_topic_name())
        pipeline.dedupe_index.rebuild(
            (entry[0] + horizon, entry[1], fp) for fp, entry in dedupe.items() if entry[1] in mine
        )
        metrics.dedupe_keys.set(len(pipeline.dedupe_index))

    @app.timer(EXPIRY_INTERVAL_S)
    async def expire_dedupe() -> None:
        mine = active_partitions(parsed.get_topic_name())
        deleted = expire_due(dedupe, pipeline.dedupe_index, time.time(), lambda v: v[0] + horizon, mine)
        metrics.expired.labels("dedupe").inc(deleted)
        metrics.dedupe_keys.set(len(pipeline.dedupe_index))

    # -- aggregates and the query API --------------------------------------------------------------------
    aggs = pipeline.aggs = wire_aggregates(app, settings, metrics, table_options, processing_error, sink)
    wire_views(app, settings, pipeline.aggs, refs)
    wire_floor(app, settings, pipeline.aggs, refs)  # the live floor map: GET /, /map, /v1/maps/{id}, ...

    # -- web ---------------------------------------------------------------------------------------------
    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """200 once the reference data is read and this worker has partitions to work on."""
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        ready = refs.ready.is_set() and assigned and not app.rebalancing
        body = {"ready": ready, "reference_data": refs.ready.is_set(), "partitions_assigned": assigned}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type=metrics.content_type.split(";")[0])

    return pipeline
