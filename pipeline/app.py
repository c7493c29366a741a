"""The worker's Faust app: one agent over the raw topics, its state, its commit, its pages.

    mist.<topic> ──┬─ one pass per body (process.py): parse, dedupe, enrich, publish, aggregate
    mist.by-site ──┘     ├─▶ mist.<topic>.enriched, mist.zone.visits, mist.rssi.windows, mist.deadletter
                         └─▶ state per site partition (aggregates/, state.py) ─▶ query API, floor map

Faust does what it does well: the consumer group, the assignment, offsets, changelog topics and their
recovery. The records go out through librdkafka (output.py), and a commit writes, in order, each step acked
before the next: the records, the state changed since the last commit, the dedupe marks; only then the
offsets. The agent runs at concurrency 1 (faust-streaming #606); scale with partitions and workers.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson

from mistpipe.settings import Settings
from pipeline import aggregates, floor
from pipeline import faust as faust_internals
from pipeline import views as queries
from pipeline.aggregates import Aggregates
from pipeline.aggregates.windows import record_time_ms
from pipeline.metrics import PipelineMetrics
from pipeline.output import Output
from pipeline.parse import DeadLetter
from pipeline.process import Pass, deadletter_record
from pipeline.reference import ReferenceData, follow
from pipeline.routing import Cluster
from pipeline.state import State
from topics.names import rssi_windows_topic, zone_visits_topic
from topics.serde import dumps, encode_key

log = logging.getLogger(__name__)

EXPIRY_INTERVAL_S = 5.0
TICK_S = 1.0


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def canonical_host(bind: str) -> str:
    """The host other workers reach this one at (queries are forwarded there)."""
    return socket.gethostname() if bind in ("0.0.0.0", "::", "") else bind


@dataclass
class Pipeline:
    """The app and what tests and the CLI reach into."""

    app: faust.App
    settings: Settings
    metrics: PipelineMetrics
    output: Output
    refs: ReferenceData
    aggs: Aggregates
    dedupe: State
    process: Pass

    def states(self) -> list[State]:
        return [*self.aggs.states(), self.dedupe]


def _app(settings: Settings) -> faust.App:
    # Per app and web port: two workers on one host (tests, or a rolling restart) never share a state dir.
    datadir = Path(settings.state_dir).resolve() / f"worker-{settings.app_id}-{settings.web_port}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        store="memory://",  # state lives in memory, recovered from its changelog (state.py)
        table_standby_replicas=0,  # no copy of the others' state: a worker reads only what it owns
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


def create_app(settings: Settings) -> Pipeline:
    """Build the worker's Faust app (it connects to Kafka only when run)."""
    faust_internals.apply()
    app = _app(settings)
    faust_internals.fetching(app, settings.fetch_max_wait_ms, settings.fetch_min_bytes)
    prefix = settings.topic_prefix
    metrics = PipelineMetrics()
    output = Output(
        settings.kafka_bootstrap,
        on_failed=lambda topic: metrics.produce_failures.labels(topic).inc(),
        **{"linger.ms": settings.worker_linger_ms},
    )
    refs = ReferenceData()

    def state(name: str, retention_s: float | None = None, indexed: bool = False) -> State:
        # Keys and values as JSON (Faust's default for str keys), as state.py writes them.
        table = app.Table(name, key_type=str, partitions=settings.partitions)
        return State(table, faust_internals.store_of(table), retention_s, indexed=indexed)

    outputs = {"visits": zone_visits_topic(prefix), "rssi": rssi_windows_topic(prefix)}

    def publish(kind: str, key: str, record: dict[str, Any], ts: float) -> None:
        output.send(outputs[kind], encode_key(key), orjson.dumps(record), None, record_time_ms(ts))

    aggs = aggregates.build(
        state, publish, settings, lambda topic, n: metrics.zone_exits_ignored.labels(topic).inc(n)
    )
    # The fingerprints seen within the horizon, in buckets (dedupe.py): an event seen again is a copy.
    dedupe = state("dedupe", settings.dedupe_seconds)
    process = Pass(prefix, output, refs, aggs, dedupe, metrics, settings.dedupe_seconds)
    pipeline = Pipeline(app, settings, metrics, output, refs, aggs, dedupe, process)

    @app.task
    async def follow_reference() -> None:
        output.start()
        await follow(settings.kafka_bootstrap, prefix, refs)

    def processing_error(message: Any, exc: Exception) -> None:
        """An unexpected error on one record (a bug, a value no test foresaw): the record goes to the
        dead-letter topic with the reason, and the worker goes on. Never a crash, never a silent drop."""
        metrics.processing_errors.labels("process").inc()
        log.exception("cannot process %s[%d]@%d", message.topic, message.partition, message.offset)
        error = {
            "field": None,
            "message": f"process: {type(exc).__name__}: {exc}"[:1000],
            "type": "processing",
        }
        value = message.value or b""
        dead = DeadLetter(None, [error], body=value[:65536].decode("utf-8", errors="replace"))
        source = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        record = deadletter_record(dead, source, int(message.timestamp * 1000))
        output.send(process.deadletter, encode_key("process"), record)

    body = process.body

    def on_body(m: Any) -> None:
        """One pass per body (process.py), as the consumer hands it over (pipeline/faust/direct.py); a body
        that fails is dead-lettered, and the next one goes on."""
        try:
            body(m.topic, m.partition, m.offset, m.key, m.value, m.headers)
        except Exception as exc:
            processing_error(m, exc)
        aggs.rssi.close(time.time())

    # No body is processed before the output runs and the reference data is read (no event is enriched
    # against half-read reference data).
    faust_internals.direct.subscribe(
        app, process.source_topics, on_body, lambda: output.started and refs.ready.is_set(), refs.ready.wait
    )

    last_commit = [0.0]

    async def commit() -> None:
        """Before Faust commits offsets: the records out, then the state, then the dedupe marks, each
        acknowledged before the next. The state is taken as it is now, between two bodies."""
        if not output.started:
            return
        last_commit[0] = time.monotonic()
        steps = process.commit_steps()
        await output.settle()
        for step in steps:
            for changelog, partition, key, value in step:
                output.send(changelog, encode_key(key), None if value is None else dumps(value), partition)
            await output.settle()

    faust_internals.install_commit(app, commit)

    @app.timer(settings.commit_interval_s)
    async def write_idle_changes() -> None:
        """Faust commits only after reading records: what changes while no record comes (keys expired by
        the clock) is written by the same commit, on time."""
        idle = time.monotonic() - last_commit[0] >= settings.commit_interval_s
        if output.started and idle and any(s.dirty for s in pipeline.states()):
            await app.producer.flush()

    async def recovered() -> None:
        """After an assignment: each state holds the partitions this worker owns now, and what their
        changelogs gave back; the RSSI windows are queued to close again."""
        for s in pipeline.states():
            s.rebuild(faust_internals.owned_partitions(app, s.changelog))
        aggs.rssi.reopen()

    faust_internals.on_recovered([s.table for s in pipeline.states()], recovered)

    @app.timer(TICK_S)
    async def tick() -> None:
        if output.started:
            aggs.rssi.close(time.time())

    @app.timer(EXPIRY_INTERVAL_S)
    async def expire() -> None:
        for s in pipeline.states():
            deleted = s.expire()
            if deleted:
                metrics.expired.labels(s.name).inc(deleted)
            if s is dedupe:
                metrics.dedupe_keys.set(len(process.seen))
            else:
                metrics.table_keys.labels(s.name).set(len(s))

    token = settings.query_token.get_secret_value().encode() if settings.query_token else None
    cluster = Cluster(app, settings.partitions, lambda: aggs.locations.state.changelog, token)
    views = queries.Views(settings, aggs, refs)
    queries.blueprint(settings, cluster, views).register(app)
    floor.blueprint(settings, cluster, views).register(app)  # the live floor map: GET /, /map, /v1/maps/{id}

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
