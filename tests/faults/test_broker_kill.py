"""Issue 7, point 1: the broker is SIGKILLed and restarted while `mistpipe replay` sends 10,000 events.

Every body answered 200 is in its raw topic, every event of those in its enriched topic, and the aggregates
equal those of an uninterrupted run of the same input (`Workload.expected`; tests/faults/test_worker_kill.py
shows an undisturbed deployment answers exactly that).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import orjson
from fault_support import differences, load_reference, metric, metrics_text, wait_for_answers, workload
from support import REPO, read_topics

EVENTS = 10_000


async def test_broker_sigkill_during_replay_loses_nothing(
    own_broker, own_deployment, worker_factory, ingest_factory, tmp_path
):
    deployment = own_deployment(partitions=2)
    await load_reference(deployment)
    work = workload(seed=1, events=EVENTS)
    worker = worker_factory(deployment)
    ingest = ingest_factory(deployment, MISTPIPE_PRODUCE_TIMEOUT_S="3")
    recording = work.jsonl(tmp_path / "bodies.jsonl")
    log = open(tmp_path / "replay.log", "wb")  # noqa: SIM115
    env = deployment.env(MISTPIPE_REPLAY_SECRET=deployment.secret)
    argv = [sys.executable, "-m", "mistpipe.cli", "replay", str(recording), "--url", ingest.url]
    argv += ["--concurrency", "4", "--rate", "120", "--retries", "12"]
    replay = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Kill the broker once a quarter of the bodies were accepted, while the replay goes on.
        deadline = time.monotonic() + 120
        while (
            metric(metrics_text(ingest.port), "mistpipe_ingest_requests_total", status="200")
            < len(work.bodies) / 4
        ):
            assert time.monotonic() < deadline and replay.poll() is None, "the replay did not get going"
            await asyncio.sleep(0.2)
        await asyncio.to_thread(own_broker.kill)
        await asyncio.sleep(3)
        assert replay.poll() is None, "the replay is still going, retrying"
        await asyncio.to_thread(own_broker.start)
        code = await asyncio.to_thread(replay.wait, 300)
    finally:
        if replay.poll() is None:
            replay.kill()
        log.close()
    output = (tmp_path / "replay.log").read_text()
    assert code == 0, output
    assert f"{len(work.bodies)} bodies posted to {ingest.url}: {len(work.bodies)} accepted" in output
    statuses = metrics_text(ingest.port)
    assert metric(statuses, "mistpipe_ingest_requests_total", status="503") > 0, "the outage was noticed"

    # Every body answered 200 (all of them) is in its raw topic, verbatim (a retried body maybe twice).
    raw_topics = sorted({deployment.topic(t) for t, _ in work.bodies})
    bodies = {b for _, b in work.bodies}
    raw = await read_topics(
        deployment.bootstrap, raw_topics, until=lambda got: bodies <= {r.value for r in got}, timeout=120
    )
    assert bodies <= {r.value for r in raw}

    # Every event of those is in its enriched topic.
    enriched_topics = sorted({deployment.topic(f"{t}.enriched") for t, _ in work.bodies})
    # Read until every event is there, not until EVENTS records: a batch the worker's producer retried after
    # the outage may be in its topic twice, and a count reached early would stop the read too soon.
    events = {(e["mac"], e["timestamp"]) for _, e in work.events}

    def enriched_events(got: list) -> set:
        return {(e["mac"], e["timestamp"]) for e in (orjson.loads(r.value) for r in got)}

    records = await read_topics(
        deployment.bootstrap, enriched_topics, until=lambda got: enriched_events(got) >= events, timeout=180
    )
    seen = enriched_events(records)
    assert seen >= events, f"{len(events - seen)} events not enriched, e.g. {sorted(events - seen)[:5]}"
    assert seen == events

    # The aggregates equal those of an uninterrupted run: each event counted once.
    got = await wait_for_answers(worker.port, work.expected, timeout=120)
    assert got == work.expected, differences(got, work.expected)
