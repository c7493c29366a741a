"""`mistpipe bench e2e`: a steady offered load through the ingest and a worker; the time from POST to the
change being visible in the query API.

The load: signed bodies of 10 events by the mix of the pipeline bench (50 % location, 40 % RSSI, 10 %
zone), sent by wrk (C, keep-alive connections; the bodies made beforehand, none alike, their event times
their planned send times, behind the real ones by the seconds it took to make them) on a fixed schedule
(open loop: a slow answer does not slow the offer).
Sampling: 4 bodies a second, sent by this process (asyncio + aiohttp), are probes, a
location body whose first event is an entity never seen before; from just before its POST, the probe
polls `GET /v1/locations/{mac}` until it answers 200: that is the latency. It polls every 25 ms, then (once
it waited over 0.5 s) at 5 % of the time waited, so that the resolution is 25 ms or 5 %, and a worker
that falls behind is not swamped by the probes themselves; a probe gives up after 120 s and counts as 120 s
(a lower bound) in the percentiles. A handful of probes in flight cost the worker far less than the load.
A warm-up (no probes) runs before the measured seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from pathlib import Path

import aiohttp
import orjson

from ingest.server import WEBHOOK_PATH
from ingest.signature import sign
from mistpipe.bench.common import (
    CpuShares,
    Service,
    deployment,
    free_port,
    kafka,
    kafka_pids,
    load_reference,
    peak_rss_mb,
    percentile,
    profiled,
    running,
    say,
    workdir,
)
from mistpipe.bench.loadgen import EVENTS_PER_BODY, MIX, Generator, World, _mac, run_wrk, write_bodies

PROBES_PER_S = 4.0
POLL_S = 0.025
GIVE_UP_S = 120.0
# A broker of our own is fresh: its JVM compiles the produce and fetch paths in the first minute of load,
# and took 0.83 of a core at 2,000 and at 5,000 events/s in runs with a 3 s warm-up (one running for an
# hour: 0.39-0.47), while a bare producer's 10 s beforehand did not warm the fetch path. The offered load
# itself warms everything: 30 s of it before the probes, on a broker of our own; 3 s on a given one.
WARMUP_OWN_BROKER_S = 30.0
WARMUP_GIVEN_BROKER_S = 3.0


def bulk_bodies(gen: Generator, bodies_per_s: float, seconds: float, start: float) -> list[bytes]:
    """The bodies wrk sends, in order, one every 1/bodies_per_s s from `start` (epoch seconds): each body's
    event times are its planned send time, and no two bodies alike (a repeat would be dropped as a
    duplicate)."""
    rnd = gen.rnd
    bodies = []
    for k in range(math.ceil(bodies_per_s * seconds) + 1):
        draw = rnd.random()
        topic = "location" if draw < MIX[0][1] else "discovered-raw-rssi" if draw < 0.9 else "zone"
        bodies.append(gen.body(topic, start + k / bodies_per_s).raw)
    return bodies


async def probe(gen: Generator, secret: str, url: str, web: str, seconds: float, warmup: float) -> dict:
    """PROBES_PER_S location bodies a second (after the warm-up), each with an entity never seen before,
    polled for in the query API until it answers."""
    latencies: list[float] = []
    stats = {"ok": 0, "failed": 0, "lost": 0, "late_s": 0.0}
    tasks: set[asyncio.Task] = set()
    rnd = gen.rnd
    headers = {"Content-Type": "application/json", "User-Agent": "Mist-webhook"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as http:

        async def send(raw: bytes, mac: str) -> None:
            started = time.perf_counter()
            try:
                async with http.post(url, data=raw, headers={**headers, **sign(raw, secret)}) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = None
            if status != 200:
                stats["failed"] += 1
                return
            stats["ok"] += 1
            while time.perf_counter() - started < GIVE_UP_S:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{web}/v1/locations/{mac}") as response:
                        await response.read()
                        if response.status == 200:
                            latencies.append(time.perf_counter() - started)
                            return
                # Every 25 ms at first, then at 5 % of the time waited: an overloaded worker is not swamped
                # by the probes' own requests, and the resolution stays within 5 %.
                await asyncio.sleep(max(POLL_S, 0.05 * (time.perf_counter() - started)))
            stats["lost"] += 1

        await asyncio.sleep(warmup)
        start = time.perf_counter()
        for k in range(int(seconds * PROBES_PER_S)):
            due = start + k / PROBES_PER_S
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                stats["late_s"] = max(stats["late_s"], now - due)
            mac = _mac(rnd)
            m = rnd.choice(gen.world.maps)
            events = [gen.location_event(m, time.time(), mac)]
            events += [gen.location_event(m, time.time()) for _ in range(EVENTS_PER_BODY - 1)]
            task = asyncio.create_task(send(orjson.dumps({"topic": "location", "events": events}), mac))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    stats["latencies"] = latencies
    return stats


async def drive(
    gen: Generator,
    secret: str,
    url: str,
    web: str,
    rate: float,
    seconds: float,
    warmup: float,
    work: Path,
    cpu: CpuShares,
) -> dict:
    """wrk offers the load but for the probes (C: a Python client of 500 bodies/s took a third of a core
    of the two that the worker shares), on a schedule; this process sends and polls the probes. `cpu` is
    started once the bodies are made, as the load begins."""
    bodies_per_s = rate / EVENTS_PER_BODY - PROBES_PER_S
    duration = round(warmup + seconds)
    bodies = bulk_bodies(gen, bodies_per_s, duration, time.time() + 1.0)
    path = write_bodies(work / "e2e-bodies.txt", bodies, secret)
    cpu.start()
    load = asyncio.create_task(
        asyncio.to_thread(run_wrk, url, path, duration, connections=16, rate=bodies_per_s, workdir=work)
    )
    stats = await probe(gen, secret, url, web, seconds, warmup)
    wrk = await load
    stats["bulk"] = wrk
    stats["scheduled"] = round(bodies_per_s * wrk.seconds)
    stats["ok"] += wrk.ok
    stats["failed"] += wrk.errors
    stats["events_per_s"] = (wrk.requests / wrk.seconds + PROBES_PER_S) * EVENTS_PER_BODY
    return stats


def run(
    *,
    rate: float,
    seconds: float,
    partitions: int,
    bootstrap: str | None,
    state_dir: Path,
    report: list[str],
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
    warmup: float | None = None,
) -> dict:
    world = World()
    gen = Generator(world)
    with (
        workdir("e2e") as work,
        kafka(bootstrap, state_dir) as broker,
        deployment(broker, partitions, "e2e") as d,
    ):
        asyncio.run(load_reference(d, world.reference()))
        web_port, ingest_port = free_port(), free_port()
        web = f"http://127.0.0.1:{web_port}"
        url = f"http://127.0.0.1:{ingest_port}{WEBHOOK_PATH}"
        worker = Service(
            "worker",
            ["worker"],
            d.env(MISTPIPE_WEB_PORT=str(web_port), **(extra_env or {})),
            work / "worker.log",
            f"{web}/readyz",
        )
        ingest = Service(
            "ingest",
            ["ingest", "--port", str(ingest_port)],
            d.env(**(extra_env or {})),
            work / "ingest.log",
            f"http://127.0.0.1:{ingest_port}/readyz",
        )
        say("starting the worker and the ingest")
        with running(worker), running(ingest):
            if warmup is None:
                warmup = WARMUP_GIVEN_BROKER_S if bootstrap else WARMUP_OWN_BROKER_S
            say(f"offering {rate:,.0f} events/s for {warmup:g}s (warm-up) + {seconds:g}s")
            with (
                profiled(worker.pid, profile / "e2e-worker.raw" if profile else None),
                profiled(ingest.pid, profile / "e2e-ingest.raw" if profile else None),
            ):
                # The load: this process (the probes) and wrk, its child, counted once it ended.
                pids = {"worker": [worker.pid], "ingest": [ingest.pid], "load": [os.getpid()]}
                cpu = CpuShares({**pids, "Kafka": kafka_pids()}, with_children=["load"])
                stats = asyncio.run(drive(gen, d.secret, url, web, rate, seconds, warmup, work, cpu))
                cpu.stop()
            rss = peak_rss_mb(worker.pid)
    # A probe never seen counts as the give-up time: a lower bound, never left out of the percentiles.
    latencies = [x * 1000 for x in stats["latencies"]] + [GIVE_UP_S * 1000] * stats["lost"]
    if not stats["ok"]:
        raise RuntimeError(f"the ingest accepted no body: {stats}")
    offered = stats["events_per_s"]
    bulk = stats["bulk"]
    report += [
        f"offered: {offered:,.0f} events/s ({rate / EVENTS_PER_BODY:,.0f} bodies/s of {EVENTS_PER_BODY} "
        "events, "
        f"50/40/10 % location/RSSI/zone) for {seconds:g}s after a {warmup:g}s warm-up: wrk sent "
        f"{bulk.requests:,} bodies of the {stats['scheduled']:,} its schedule had (answered p50 "
        f"{bulk.p50_ms:.1f} ms, p99 {bulk.p99_ms:.1f} ms); the probes were at most "
        f"{stats['late_s'] * 1000:.0f} ms behind theirs",
        f"answers: {stats['ok']} x 200, {stats['failed']} not 200",
        f"probes: {len(stats['latencies'])} visible, {stats['lost']} not within {GIVE_UP_S:g}s; "
        f"POST -> visible in GET /v1/locations: p50 {percentile(latencies, 50):.0f} ms, "
        f"p90 {percentile(latencies, 90):.0f} ms, "
        f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms"
        + (" (lower bounds: probes gave up)" if stats["lost"] else ""),
        f"worker peak RSS {rss:.0f} MB",
        f"{cpu.describe()} (warm-up included)",
    ]
    return {
        "offered_events_per_s": round(offered, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }
