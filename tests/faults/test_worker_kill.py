"""A worker SIGKILLed mid-stream loses nothing and counts nothing twice.

After a kill, the records since the last commit are read again, and may be published a second time
(at-least-once). The aggregates still equal an uninterrupted run's: a commit writes the records, then the
state, then the dedupe marks, and a restored RSSI window says which records it counted (pipeline/state.py);
the other aggregates are unchanged by an event applied twice.
"""

from __future__ import annotations

import asyncio

import orjson
from fault_support import (
    differences,
    load_reference,
    metric,
    metrics_text,
    sites_on_partitions,
    wait_for_answers,
    wait_for_metric,
    workload,
)
from support import produce_bodies

# A killed worker's partitions go to the others once its session times out (MISTPIPE_SESSION_TIMEOUT_S):
# short here, so that a restarted or surviving worker need not wait the default minute.
SHORT_SESSION = {"MISTPIPE_SESSION_TIMEOUT_S": "8"}


async def write(deployment, bodies) -> None:
    """Bodies into their raw topics as the ingest writes them: keyed by their site."""
    keyed = [(topic, body, orjson.loads(body)["events"][0]["site_id"]) for topic, body in bodies]
    await produce_bodies(deployment, keyed)


async def test_worker_sigkill_mid_stream_then_restart(deployment_factory, worker_factory):
    work = workload(seed=2, events=6_000)
    disturbed, undisturbed = deployment_factory(partitions=2), deployment_factory(partitions=2)
    for deployment in (disturbed, undisturbed):
        await load_reference(deployment)
    await write(undisturbed, work.bodies)
    victim = worker_factory(disturbed, **SHORT_SESSION)
    control = worker_factory(undisturbed)

    # The input arrives while the worker is at work (paced: even a fast worker cannot be done before the
    # kill); SIGKILL once 30% of it went through.
    async def feed() -> None:
        for i in range(0, len(work.bodies), 20):
            await write(disturbed, work.bodies[i : i + 20])
            await asyncio.sleep(0.1)

    feeding = asyncio.ensure_future(feed())
    events = len(work.events)
    seen = await wait_for_metric(victim.port, "mistpipe_worker_events_out_total", lambda v: v >= 0.3 * events)
    assert seen is not None and seen < events, f"the kill must land mid-stream ({seen} of {events})"
    victim.kill()
    # A new process with an empty local store: the tables come back from their changelogs, and the records
    # after the last commit are read again.
    restarted = worker_factory(disturbed, **SHORT_SESSION)
    await feeding

    uninterrupted = await wait_for_answers(control.port, work.expected, timeout=120)
    assert uninterrupted == work.expected, differences(uninterrupted, work.expected)
    got = await wait_for_answers(restarted.port, uninterrupted, timeout=120)
    assert got == uninterrupted, differences(got, uninterrupted)
    assert metric(metrics_text(restarted.port), "mistpipe_worker_processing_errors_total") == 0


async def test_two_workers_one_killed_the_other_takes_over(deployment_factory, worker_factory):
    deployment = deployment_factory(partitions=4)
    await load_reference(deployment)
    # Sites on every partition: the state of a site lives on its partition, so each worker holds some.
    work = workload(seed=3, events=4_000, sites=sites_on_partitions(4))
    survivor = worker_factory(deployment, **SHORT_SESSION)
    victim = worker_factory(deployment, **SHORT_SESSION)
    half = len(work.bodies) // 2
    await write(deployment, work.bodies[:half])
    # The victim holds a share of the tables when it dies, mid-stream.
    held = await wait_for_metric(victim.port, "mistpipe_worker_table_keys", lambda v: v > 0)
    assert held, "both workers hold partitions"
    victim.kill()
    await write(deployment, work.bodies[half:])

    # Every query answers through the survivor, every answer as an uninterrupted run's.
    got = await wait_for_answers(survivor.port, work.expected, timeout=120)
    assert got == work.expected, differences(got, work.expected)


async def test_worker_killed_before_its_first_commit_then_restarted(deployment_factory, worker_factory):
    """A worker killed before it ever committed an offset: its successor has no committed offset to seek
    to, and aiokafka then leaves each partition where the fetching during the table recovery got to. It must
    read each from its start (pipeline/faust/fixes.py, point 2), and count each event once."""
    deployment = deployment_factory(partitions=2)
    await load_reference(deployment)
    work = workload(seed=4, events=15_000)
    await write(deployment, work.bodies)
    victim = worker_factory(deployment, MISTPIPE_COMMIT_INTERVAL_S="3600", **SHORT_SESSION)
    events = len(work.events)
    seen = await wait_for_metric(victim.port, "mistpipe_worker_events_out_total", lambda v: v >= 0.2 * events)
    assert seen is not None and seen < events, f"the kill must land mid-stream ({seen} of {events})"
    victim.kill()

    restarted = worker_factory(deployment, **SHORT_SESSION)
    got = await wait_for_answers(restarted.port, work.expected, timeout=120)
    assert got == work.expected, differences(got, work.expected)
