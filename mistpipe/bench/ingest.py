"""`mistpipe bench ingest`: the real ingest on a real broker against its ceilings, measured in one run.

Phases, each with `wrk` (one thread, keep-alive connections) posting signed location bodies of 10 events:
1. the HTTP ceiling: the same aiohttp server set-up with a handler that reads the body and answers 200;
2. the ingest (`mistpipe ingest`, a subprocess) at its maximum: as many requests as the connections carry;
3. the ingest at half that rate, paced: the latency (time to the 200) of a loaded, not saturated, ingest;
4. the Kafka ceilings: bare confluent-kafka and aiokafka producers sending the same bodies, acks=all.
Every 200 must be a record in Kafka: the raw topic's end offsets are checked against the 200s counted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from ingest.server import WEBHOOK_PATH
from mistpipe.bench.common import (
    REPO,
    Deployment,
    Service,
    cpu_seconds,
    deployment,
    free_port,
    kafka,
    profiled,
    running,
    say,
    workdir,
)
from mistpipe.bench.loadgen import EVENTS_PER_BODY, Generator, World, run_wrk, write_bodies

DISTINCT_BODIES = 200


def _producer_ceiling(d: Deployment, library: str, bodies_file: Path, seconds: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "mistpipe.bench.baselines",
        "produce",
        "--library",
        library,
        "--bootstrap",
        d.bootstrap,
        "--topic",
        d.topic("location"),
        "--bodies",
        str(bodies_file),
        "--seconds",
        str(seconds),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"{library} producer failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["per_s"] = result["acked"] / result["seconds"]
    return result


async def _records_in(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


def run(
    *,
    seconds: float,
    rounds: int,
    connections: int,
    partitions: int,
    bootstrap: str | None,
    state_dir: Path,
    report: list[str],
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict:
    gen = Generator(World())
    now = time.time()
    bodies = [gen.body("location", now).raw for _ in range(DISTINCT_BODIES)]
    size = sum(map(len, bodies)) / len(bodies)
    with (
        workdir("ingest") as work,
        kafka(bootstrap, state_dir) as broker,
        deployment(broker, partitions, "ingest") as d,
    ):
        bodies_file = write_bodies(work / "bodies.tsv", bodies, d.secret)
        warmup = min(2.0, max(1.0, seconds / 5))
        ceiling_port, ingest_port = free_port(), free_port()
        ceiling_url = f"http://127.0.0.1:{ceiling_port}{WEBHOOK_PATH}"
        url = f"http://127.0.0.1:{ingest_port}{WEBHOOK_PATH}"
        ceiling = Service(
            "http-ceiling",
            ["http", "--port", str(ceiling_port)],
            d.env(),
            work / "ceiling.log",
            f"http://127.0.0.1:{ceiling_port}/readyz",
            module="mistpipe.bench.baselines",
        )
        ingest = Service(
            "ingest",
            ["ingest", "--port", str(ingest_port)],
            d.env(**(extra_env or {})),
            work / "ingest.log",
            f"http://127.0.0.1:{ingest_port}/readyz",
        )
        # Rounds alternate the HTTP ceiling and the ingest, so that a neighbour's load spreads over both;
        # each keeps its best round (a shared machine only ever slows a run down).
        https, peaks = [], []
        busy: list[float] = []  # the ingest's CPU (all its threads), in cores, in each round
        # A fresh broker's JVM is cold: the first seconds of produce run several times slower. Warm it (and
        # its JIT) with a bare producer first, so that no phase pays for it.
        say("warming the broker up")
        _producer_ceiling(d, "confluent-kafka", bodies_file, max(3.0, seconds / 2))
        before = asyncio.run(_records_in(d.bootstrap, d.topic("location")))  # the warm-up's records
        with running(ceiling), running(ingest):
            run_wrk(ceiling_url, bodies_file, warmup, connections)
            accepted = run_wrk(url, bodies_file, warmup, connections).ok
            for r in range(rounds):
                say(f"round {r + 1}/{rounds}: HTTP ceiling (read the body, answer 200), then the ingest")
                https.append(run_wrk(ceiling_url, bodies_file, seconds, connections))
                last = r == rounds - 1
                cpu = cpu_seconds(ingest.pid)
                with profiled(ingest.pid, profile / "ingest.raw" if profile and last else None):
                    peaks.append(run_wrk(url, bodies_file, seconds, connections))
                busy.append((cpu_seconds(ingest.pid) - cpu) / peaks[-1].seconds)
                accepted += peaks[-1].ok
            http = max(https, key=lambda w: w.ok_per_s)
            peak = max(peaks, key=lambda w: w.ok_per_s)
            half = peak.ok_per_s / 2
            say(f"ingest at half its maximum: {half:,.0f} bodies/s, paced")
            paced = run_wrk(url, bodies_file, seconds, max(64, connections), rate=half)
            accepted += paced.ok
        in_kafka = asyncio.run(_records_in(d.bootstrap, d.topic("location"))) - before

        producers: dict[str, list[dict]] = {"confluent-kafka": [], "aiokafka": []}
        for r in range(rounds):
            say(f"round {r + 1}/{rounds}: Kafka ceilings, bare producers, acks=all")
            for library, results in producers.items():
                results.append(_producer_ceiling(d, library, bodies_file, seconds))
    best = {library: max(results, key=lambda x: x["per_s"]) for library, results in producers.items()}
    kafka_best = max(best.values(), key=lambda r: r["per_s"])

    def runs(values: list[float]) -> str:
        return "" if len(values) < 2 else f"  [rounds: {', '.join(f'{v:,.0f}' for v in values)}]"

    report += [
        f"bodies: {DISTINCT_BODIES} distinct signed location bodies of {EVENTS_PER_BODY} events, "
        f"{size / 1024:.1f} KB each; wrk -t1 -c{connections}, {seconds:g}s per phase, best of {rounds}",
        f"HTTP ceiling (read body, 200): {http.describe()}{runs([w.ok_per_s for w in https])}",
        f"ingest, maximum:               {peak.describe()}{runs([w.ok_per_s for w in peaks])}",
        f"ingest CPU at its maximum: {', '.join(f'{100 * b:.0f} %' for b in busy)} of one core, "
        f"{', '.join(f'{1e6 * b / w.ok_per_s:.0f}' for b, w in zip(busy, peaks, strict=True))} µs per body",
        f"ingest, paced at {half:,.0f}/s:  {paced.describe()}",
        *(
            f"bare {library} producer: {r['per_s']:,.0f} bodies/s acked ({r['acked']} acked, "
            f"{r['failed']} failed in {r['seconds']:.1f}s){runs([x['per_s'] for x in producers[library]])}"
            for library, r in best.items()
        ),
        f"ratios: ingest / HTTP ceiling {peak.ok_per_s / http.ok_per_s:.2f}; ingest / Kafka ceiling "
        f"({kafka_best['library']}) {peak.ok_per_s / kafka_best['per_s']:.2f}",
        f"every 200 is in Kafka: {accepted} answered 200, {in_kafka} records in the raw topic"
        + ("" if in_kafka >= accepted else "  <-- MISSING RECORDS"),
    ]
    if in_kafka < accepted:
        raise RuntimeError("\n".join(report))
    return {
        "bodies_per_s": round(peak.ok_per_s, 1),
        "events_per_s": round(peak.ok_per_s * EVENTS_PER_BODY, 1),
        "p50_ms": round(paced.p50_ms, 3),
        "p95_ms": round(paced.p95_ms, 3),
        "p99_ms": round(paced.p99_ms, 3),
        "http_ceiling_bodies_per_s": round(http.ok_per_s, 1),
        "kafka_ceiling_bodies_per_s": round(kafka_best["per_s"], 1),
        "ratio_to_http_ceiling": round(peak.ok_per_s / http.ok_per_s, 3),
    }
