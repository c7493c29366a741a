"""`mistpipe bench faults`: a worker SIGKILLed again and again under load, then every aggregate compared with
the model's answers (mistpipe.bench.faultload).

The workload (RSSI, locations, zone visits over sites on every partition) is written to the raw topics at a
steady pace while workers come and go. Each round starts a worker and kills it (SIGKILL) at a moment of one
of these kinds, in turn:

- `first-commit`: before its first commit (it ran under a second; nothing it did was ever committed);
- `commit`: in the middle of a commit (commits every 0.2 s, so a kill at a random moment lands in one of
  its flushes most of the time);
- `rebalance`: during a rebalance (a second worker joins, and the first is killed while the group
  rebalances; the second goes on);
- `random`: at a random moment of up to a few seconds.

Once every body is written and the last round is done, a worker runs to the end, and its answers are
compared with the model's: a difference is an event lost or counted twice. The enriched topics are read too:
every event of the workload must be there (at least once: after a kill, a record may be published twice).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import orjson

from mistpipe.bench.common import (
    REPO,
    Service,
    deployment,
    free_port,
    kafka,
    load_reference,
    produce_raw,
    say,
    workdir,
)
from mistpipe.bench.faultload import differences, sites_on_partitions, wait_for_answers, workload

KINDS = ("first-commit", "commit", "rebalance", "random")
PARTITIONS = 4


def _reference() -> dict[str, list[dict]]:
    from pipeline.reference import read_files

    return read_files(sorted((REPO / "mistpipe" / "samples" / "api").glob("*.json")))


async def _write(bootstrap: str, prefix: str, bodies: list[tuple[str, bytes]], seconds: float) -> None:
    """The bodies into their raw topics as the ingest writes them (keyed by their site), spread over
    `seconds`."""
    chunk = 20
    keyed = [(topic, body, orjson.loads(body)["events"][0]["site_id"]) for topic, body in bodies]
    await produce_raw(bootstrap, prefix, keyed, chunk=chunk, pause_s=seconds / max(1, len(bodies) / chunk))


async def _enriched_events(bootstrap: str, topics: list[str], want: int) -> set[tuple]:
    """The (raw topic, partition, offset, index) of every enriched record, read until `want` distinct."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: set[tuple] = set()
    try:
        deadline = time.monotonic() + 120
        while len(seen) < want and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for record in batch:
                    s = orjson.loads(record.value)["mist"]["source"]
                    seen.add((s["topic"], s["partition"], s["offset"], s["index"]))
    finally:
        await consumer.stop()
    return seen


def run(
    *, kills: int, events: int, bootstrap: str | None, state_dir: Path, report: list[str], seed: int
) -> dict:
    rnd = random.Random(seed)
    work = workload(seed=seed, events=events, sites=sites_on_partitions(PARTITIONS))
    with (
        workdir("faults") as logs,
        kafka(bootstrap, state_dir) as broker,
        deployment(broker, PARTITIONS, "faults") as d,
    ):
        asyncio.run(load_reference(d, _reference()))

        def worker(n: int, **env: str) -> Service:
            port = free_port()
            service = Service(
                f"worker-{n}",
                ["worker"],
                d.env(MISTPIPE_WEB_PORT=str(port), MISTPIPE_SESSION_TIMEOUT_S="6", **env),
                logs / f"worker-{n}.log",
                f"http://127.0.0.1:{port}/readyz",
            )
            service.port = port
            return service

        # The load goes on through every round: about as long as the rounds take.
        writing = asyncio.new_event_loop()
        feed = writing.create_task(_write(d.bootstrap, d.prefix, work.bodies, seconds=max(10.0, kills * 6.0)))
        done: dict[str, int] = dict.fromkeys(KINDS, 0)
        feeder = threading.Thread(target=writing.run_until_complete, args=(feed,), daemon=True)
        feeder.start()
        for k in range(kills):
            kind = KINDS[k % len(KINDS)]
            if kind == "first-commit":
                victim = worker(k, MISTPIPE_COMMIT_INTERVAL_S="3600").start()
                time.sleep(rnd.uniform(0.0, 1.0))
            elif kind == "commit":
                victim = worker(k, MISTPIPE_COMMIT_INTERVAL_S="0.2").start()
                time.sleep(rnd.uniform(0.5, 3.0))
            elif kind == "rebalance":
                victim = worker(k).start()
                time.sleep(rnd.uniform(0.5, 2.0))
                other = worker(f"{k}-joins").spawn()
                time.sleep(rnd.uniform(0.5, 3.0))  # the group rebalances as the second joins
            else:
                victim = worker(k).start()
                time.sleep(rnd.uniform(0.0, 5.0))
            victim.proc.kill()
            victim.proc.wait()
            if kind == "rebalance":
                other.proc.kill()
                other.proc.wait()
            done[kind] += 1
            say(f"kill {k + 1}/{kills}: {kind}")
        feeder.join()
        final = worker("final").start()
        try:
            got = asyncio.run(wait_for_answers(final.port, work.expected, timeout=180))
            names = sorted({d.topic(f"{t}.enriched") for t, _ in work.bodies})
            want = len(work.events)
            enriched = asyncio.run(_enriched_events(d.bootstrap, names, want))
        finally:
            final.stop()
    wrong = [path for path in work.expected if got.get(path) != work.expected[path]]
    lost = len(work.events) - len(enriched)
    report += [
        f"workload: {len(work.events)} events in {len(work.bodies)} bodies over {PARTITIONS} partitions "
        f"(sites on each); written at a steady pace while the workers were killed",
        "kills: " + ", ".join(f"{n} {kind}" for kind, n in done.items()) + f" ({kills} in all)",
        f"answers: {len(work.expected)} queries, {len(wrong)} differing from the model"
        + (f": {differences(got, work.expected, limit=3)}" if wrong else ""),
        f"enriched topics: {len(enriched)} of {len(work.events)} events ({lost} missing)",
    ]
    return {"kills": kills, "differences": len(wrong), "events_lost": lost, "events": len(work.events)}
