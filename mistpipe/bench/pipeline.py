"""`mistpipe bench pipeline`: a worker from empty state through N preloaded events, against a bare loop.

1. Preload: N events' worth of raw bodies (50 % location, 40 % discovered-raw-rssi, 10 % zone; 10 events a
   body, one site and map each; MACs spread over 20,000 clients and 5,000 beacons; current timestamps)
   written to the raw topics as the ingest writes them (key, headers); reference data for every site,
   map and zone, so that every event is enriched.
2. The ceiling: a bare aiokafka loop (its own process) reads the same raw topics, orjson-parses each body
   and produces one record per event, acks=all.
3. The worker (`mistpipe worker`, a fresh app id and state dir) runs until every event is enriched and
   aggregated. Completion signal:
   - enriched: the worker's /metrics `mistpipe_worker_events_out_total` (+ duplicates + dead letters, both
     0 here) reached N (polled every 0.2 s); and
   - aggregated and durable: the consumer group's committed offsets equal the end offsets of the raw
     topics. The worker commits offsets only after the records, the state and the dedupe marks of what it
     processed were written (pipeline/app.py), every MISTPIPE_COMMIT_INTERVAL_S (2.8 s), so the *time* of
     completion is the newest record time in the worker's changelogs (written with the wall clock of that
     commit): the state of the last event durable, as the Quix peer's figure ends at its last checkpoint.
   Start: the last poll (every 0.1 s) at which the worker had taken no body yet.
   Peak RSS: VmHWM of the worker process (and any children), read before it stops.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson

from mistpipe.bench.common import (
    REPO,
    Deployment,
    Service,
    cpu_seconds,
    deployment,
    free_port,
    http_get,
    kafka,
    load_reference,
    peak_rss_mb,
    profiled,
    say,
    workdir,
)
from mistpipe.bench.loadgen import MIX, Body, Generator, World
from mistpipe.bench.quix import run_peer

SINK = "bench.sink"
CEILING_RUNS = 3
POLL_S = 0.2
_COUNTER = re.compile(r"^(mistpipe_worker_\w+?)_total\{[^}]*\} ([0-9.e+]+)$", re.M)


async def preload(d: Deployment, bodies: list[Body]) -> None:
    """The raw bodies, as the ingest writes them: keyed by site (JSON), with the ingest's headers."""
    from confluent_kafka import Producer

    from topics import headers as h
    from topics.serde import encode_key

    producer = Producer(
        {"bootstrap.servers": d.bootstrap, "acks": "all", "linger.ms": 5, "partitioner": "murmur2_random"}
    )
    failed = []
    received = str(int(time.time() * 1000)).encode()
    for body in bodies:
        headers = [
            (h.MIST_TOPIC, body.mist_topic.encode()),
            (h.RECEIVED_AT_MS, received),
            (h.SIGNATURE_VERIFIED, b"true"),
        ]
        while True:
            try:
                producer.produce(
                    d.topic(body.mist_topic),
                    body.raw,
                    encode_key(body.site_id),
                    headers=headers,
                    on_delivery=lambda err, _msg: err and failed.append(err),
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise RuntimeError(f"preload: {left} records not delivered, {len(failed)} failed: {failed[:3]}")


def ceiling(d: Deployment, events: int | None = None) -> dict:
    """The bare aiokafka loop; with `events`, the same work in a one-agent Faust app instead."""
    cmd = [
        sys.executable,
        "-m",
        "mistpipe.bench.baselines",
        "consume" if events is None else "faust",
        "--bootstrap",
        d.bootstrap,
        "--topics",
        ",".join(d.topic(t) for t, _ in MIX),
        "--sink",
        d.topic(SINK),
    ]
    if events is not None:
        cmd += ["--events", str(events)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the bare loop failed:\n{proc.stderr[-3000:]}")
    # Faust's worker may leave terminal control codes on the line before ours.
    lines = [line[line.index("{") :] for line in proc.stdout.splitlines() if "{" in line]
    if not lines:
        raise RuntimeError(f"{cmd[3]}: no result line:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def counters(text: str) -> dict[str, float]:
    """Sum of each mistpipe_worker_*_total counter over its labels."""
    found: dict[str, float] = {}
    for name, value in _COUNTER.findall(text):
        found[name] = found.get(name, 0.0) + float(value)
    return found


async def _lag(d: Deployment, topics: list[str]) -> int:
    """Records of `topics` not yet committed by the worker's consumer group."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=d.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=d.bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(d.partitions)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(d.app_id)
        return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def last_write_ms(d: Deployment) -> int:
    """The newest record time in the worker's table changelogs: Faust writes them without a timestamp, so
    each carries its CreateTime, the wall clock of the table write."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=d.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        names = [
            t for t in await consumer.topics() if t.startswith(f"{d.app_id}-") and t.endswith("-changelog")
        ]
        tps = [TopicPartition(t, p) for t in names for p in range(d.partitions)]
        ends = {tp: end for tp, end in (await consumer.end_offsets(tps)).items() if end > 0}
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, end - 1)
        newest, todo = 0, set(ends)
        deadline = time.monotonic() + 30
        while todo and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    newest = max(newest, record.timestamp)
                    if record.offset >= ends[tp] - 1:
                        todo.discard(tp)
        return newest
    finally:
        await consumer.stop()


async def watch(d: Deployment, workers: list[Service], events: int, timeout: float) -> dict:
    """Poll the workers until every event is enriched and aggregated; the seconds it took, their counters
    (summed over the workers)."""
    from topics.names import raw_topic

    consumed = [raw_topic(t, d.prefix) for t, _ in MIX]
    deadline = time.monotonic() + timeout
    idle_at: float | None = None  # wall clock of the last poll at which no body was taken yet
    idle_cpu = 0.0
    before = 0.0  # wall clock of the previous poll
    found: dict[str, float] = {}

    async def poll(session: aiohttp.ClientSession) -> dict[str, float]:
        summed: dict[str, float] = {}
        for worker in workers:
            async with session.get(f"{worker.web}/metrics") as response:
                for name, value in counters((await response.read()).decode()).items():
                    summed[name] = summed.get(name, 0.0) + value
        return summed

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the workers did not finish in {timeout:.0f}s: {found}\n{workers[0].tail()}"
                )
            for worker in workers:
                if worker.proc.poll() is not None:
                    raise RuntimeError(f"a worker exited with {worker.proc.returncode}:\n{worker.tail()}")
            now = time.time()
            try:
                found = await poll(session)
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            if found.get("mistpipe_worker_bodies_in", 0) == 0:
                idle_at, idle_cpu = now, sum(cpu_seconds(w.pid) for w in workers)
            outcomes = ("events_out", "duplicates", "dead_lettered")
            if sum(found.get(f"mistpipe_worker_{c}", 0) for c in outcomes) >= events:
                enriched_after = before  # every event was enriched between the previous poll and this one
                break
            before = now
            await asyncio.sleep(0.1 if idle_at == now else POLL_S)
    while await _lag(d, consumed) > 0:  # the tables are done once Faust committed everything
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the workers did not finish aggregating in {timeout:.0f}s\n{workers[0].tail()}"
            )
        await asyncio.sleep(0.5)
    # The counters once everything is committed: with several workers, a rebalance makes a worker read
    # again what another processed since its last commit (dropped as duplicates, or skipped whole), so the
    # sum above can reach the events before the last of them is out.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        found = await poll(session)
    rss = max(peak_rss_mb(w.pid) for w in workers)
    cpu = sum(cpu_seconds(w.pid) for w in workers) - idle_cpu
    end = max(enriched_after, await last_write_ms(d) / 1000)
    begin = idle_at if idle_at is not None else min(w.started_wall for w in workers)  # no idle poll: start-up
    return {"seconds": end - begin, "counters": found, "rss_mb": rss, "cpu_s": cpu}


def _keys_held(web: str) -> float:
    """The keys a worker holds: every aggregate table's and the dedupe fingerprints (its /metrics)."""
    text = (http_get(f"{web}/metrics") or b"").decode()
    return sum(
        float(v)
        for v in re.findall(r"^mistpipe_worker_(?:table|dedupe)_keys(?:\{[^}]*\})? (\S+)$", text, re.M)
    )


def recovery(
    d: Deployment, work: Path, extra_env: dict[str, str], probe: str, workers: list[Service]
) -> dict:
    """Restart: stop the workers (SIGTERM: they leave the group at once, where a killed one would hold its
    partitions until its session timed out), start one anew (an empty process: its state comes from the
    changelogs) and time until it answers `probe` (a query path) as they did."""
    expected = http_get(f"{workers[0].web}{probe}")
    keys = sum(_keys_held(w.web) for w in workers)
    for worker in workers:
        worker.stop()
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    env = d.env(MISTPIPE_WEB_PORT=str(port), **extra_env)
    again = Service("restarted", ["worker"], env, work / "restarted.log", f"{web}/metrics")
    started = time.monotonic()
    again.spawn()
    try:
        while http_get(f"{web}{probe}") != expected:
            if time.monotonic() - started > 600 or again.proc.poll() is not None:
                raise RuntimeError(f"the restarted worker did not answer {probe} again\n{again.tail()}")
            time.sleep(0.1)
        return {"recovery_s": time.monotonic() - started, "keys": keys}
    finally:
        again.stop()


def run(
    *,
    events: int,
    partitions: int,
    bootstrap: str | None,
    state_dir: Path,
    report: list[str],
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> dict:
    world = World()
    gen = Generator(world)
    bodies = gen.mixed(events, time.time())
    n_events = sum(b.events for b in bodies)
    with (
        workdir("pipeline") as work,
        kafka(bootstrap, state_dir) as broker,
        deployment(broker, partitions, "pipeline", [SINK]) as d,
    ):
        asyncio.run(load_reference(d, world.reference()))
        say(f"preloading {len(bodies)} bodies, {n_events} events")
        asyncio.run(preload(d, bodies))

        # The bare loop is short (seconds): best of three, as a shared machine only ever slows a run down.
        bares = []
        for r in range(CEILING_RUNS):
            say(f"ceiling {r + 1}/{CEILING_RUNS}: bare aiokafka loop (consume, orjson, one record per event)")
            bares.append(ceiling(d))
            if bares[-1]["events"] != n_events:
                raise RuntimeError(f"the bare loop saw {bares[-1]['events']} events of {n_events}")
        bare = min(bares, key=lambda b: b["seconds"])
        # A reference point, not the ceiling: the same work through Faust's own machinery.
        say("reference: the bare loop's work as a one-agent Faust app")
        floor = ceiling(d, events=n_events)
        # The peer a user could pick instead: the same core work with Quix Streams, in a venv of its own.
        say("peer: last location, zone occupancy and RSSI windows with Quix Streams")
        peer = run_peer(d.bootstrap, [d.topic(t) for t, _ in MIX], n_events, work / "quix")

        running: list[Service] = []
        for n in range(workers):
            port = free_port()
            web = f"http://127.0.0.1:{port}"
            env = d.env(MISTPIPE_WEB_PORT=str(port), **(extra_env or {}))
            worker = Service(f"worker-{n}", ["worker"], env, work / f"worker-{n}.log", f"{web}/metrics")
            worker.web = web
            running.append(worker)
        say(f"{workers} worker{'s' if workers > 1 else ''} from empty state")
        for worker in running:
            worker.spawn()
        try:
            with profiled(running[0].pid, profile / "worker.raw" if profile else None):
                result = asyncio.run(watch(d, running, n_events, timeout=max(300, n_events / 100)))
            say("recovery: the workers stopped, one started anew from the changelogs")
            first = next(b for b in bodies if b.mist_topic == "location")
            probe = f"/v1/locations/{orjson.loads(first.raw)['events'][0]['mac']}"
            recovered = recovery(d, work, extra_env or {}, probe, running)
        finally:
            for worker in running:
                worker.stop()
    c = result["counters"]
    worker_rate = n_events / result["seconds"]
    bare_rate = bare["events"] / bare["seconds"]
    report += [
        f"preloaded: {len(bodies)} bodies, {n_events} events "
        + ", ".join(f"{share:.0%} {t}" for t, share in MIX)
        + f"; {partitions} partitions",
        f"bare aiokafka loop: {bare_rate:,.0f} events/s ({bare['events']} events in {bare['seconds']:.1f}s; "
        f"best of {len(bares)}: {', '.join(format(b['events'] / b['seconds'], ',.0f') for b in bares)})",
        f"one-agent Faust app (the same work through Faust): "
        f"{floor['events'] / floor['seconds']:,.0f} events/s "
        f"({floor['events'] / floor['seconds'] / bare_rate:.2f} of the bare loop)",
        f"{workers} worker{'s' if workers > 1 else ' '}:          {worker_rate:,.0f} events/s "
        f"({n_events} events enriched and aggregated "
        f"in {result['seconds']:.1f}s; out {c.get('mistpipe_worker_events_out', 0):.0f}, duplicates "
        f"{c.get('mistpipe_worker_duplicates', 0):.0f}, dead-lettered "
        f"{c.get('mistpipe_worker_dead_lettered', 0):.0f}, not enriched "
        f"{c.get('mistpipe_worker_not_enriched', 0):.0f})",
        f"worker CPU: {result['cpu_s']:.1f}s over {result['seconds']:.1f}s "
        f"({100 * result['cpu_s'] / result['seconds']:.0f} % of one core; confirming the end included)",
        f"Quix Streams peer: {peer['events_per_s']:,.0f} events/s ({peer['events']} events in "
        f"{peer['seconds']:.1f}s to its last checkpoint; {1e6 * peer.get('cpu_s', 0) / n_events:.0f} us CPU "
        f"per event; changelogs {', '.join(f'{n} records' for n in peer['changelog_topics'].values())})",
        f"ratio to the bare loop: {worker_rate / bare_rate:.3f}; to the Quix peer: "
        f"{worker_rate / peer['events_per_s']:.2f}; to the one-agent Faust app: "
        f"{worker_rate * floor['seconds'] / floor['events']:.2f}; worker peak RSS {result['rss_mb']:.0f} MB",
        f"recovery: a worker started anew (from the changelogs) in place of "
        f"{'both' if workers > 1 else 'the one'} holding {recovered['keys']:,.0f} keys answered again after "
        f"{recovered['recovery_s']:.1f}s",
    ]
    return {
        "events_per_s": round(worker_rate, 1),
        "ceiling_events_per_s": round(bare_rate, 1),
        "ratio_to_ceiling": round(worker_rate / bare_rate, 3),
        "peer_events_per_s": peer["events_per_s"],
        "ratio_to_peer": round(worker_rate / peer["events_per_s"], 3),
        "worker_peak_rss_mb": round(result["rss_mb"], 1),
        "recovery_s": round(recovered["recovery_s"], 2),
    }
