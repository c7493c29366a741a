"""The worker against the real broker: raw bodies in, one enriched record per event out, nothing lost."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import orjson
import pytest
from support import MIST_API, MIST_SAMPLES, http_status, post_bodies, produce_bodies, read_topics, run_cli

from topics.serde import decode_key

SAMPLES = {p.stem: p.read_bytes() for p in sorted(MIST_SAMPLES.glob("*.json"))}
EVENTS = {topic: len(orjson.loads(body)["events"]) for topic, body in SAMPLES.items()}
SITE_ID = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
ORG_ID = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"


async def produce(deployment, bodies: list[tuple[str, bytes, str | None]]) -> None:
    await produce_bodies(deployment, bodies)


def load_reference(deployment, *paths) -> None:
    result = run_cli(
        "reference",
        "load",
        *(str(p) for p in paths),
        "--kafka-bootstrap",
        deployment.bootstrap,
        "--topic-prefix",
        deployment.prefix,
    )
    assert result.returncode == 0, result.stderr


def metric_total(worker, name: str) -> float:
    """Sum of a Prometheus counter over its labels, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    lines = [line for line in text.splitlines() if line.startswith((name + "{", name + " "))]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


async def wait_for_metric(worker, name: str, value: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while metric_total(worker, name) < value and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    assert metric_total(worker, name) == value, name


def enriched_topics(deployment) -> list[str]:
    return [deployment.topic(f"{t}.enriched") for t in SAMPLES]


def by_topic(records) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records:
        out.setdefault(r.topic, []).append(r)
    return out


async def test_every_sample_enriched_event_for_event(deployment, worker_factory, ingest_factory):
    """Real broker, real ingest, real worker: each sample posted signed comes out event for event."""
    load_reference(deployment, MIST_API)
    worker = worker_factory(deployment)
    ingest = ingest_factory(deployment)
    assert await post_bodies(ingest.url, deployment.secret, list(SAMPLES.values())) == [200] * len(SAMPLES)

    records = await read_topics(deployment.bootstrap, enriched_topics(deployment), until=sum(EVENTS.values()))
    got = by_topic(records)
    for topic, count in EVENTS.items():
        assert len(got.get(deployment.topic(f"{topic}.enriched"), [])) == count, topic

    for record in got[deployment.topic("location.enriched")]:
        event = orjson.loads(record.value)
        assert event["site"]["name"] == "Mist Office"
        assert event["map"]["name"] == "Floor 1"
        assert event["x_px"] == pytest.approx(event["x"] * 40.94)
        assert event["y_px"] == pytest.approx(event["y"] * 40.94)
        assert event["mist"]["enriched"] is True and event["mist"]["topic"] == "location"
        assert event["mist"]["source"]["topic"] == deployment.topic("location")
        # Event time is the record time; keys are JSON strings of the entity (a MAC, or an SDK id).
        assert record.timestamp == int(event["timestamp"] * 1000)
        assert decode_key(record.key) == (event.get("mac") or event["id"])
    zone = [orjson.loads(r.value) for r in got[deployment.topic("zone.enriched")]]
    assert {z["zone"]["name"] for z in zone} == {"Lobby"}
    assert http_status(f"http://127.0.0.1:{worker.port}/metrics") == 200


async def test_each_event_once_when_bodies_come_twice(deployment, worker_factory):
    load_reference(deployment, MIST_API)
    worker = worker_factory(deployment)
    # Org and site webhooks on one URL: the same bodies, once keyed by site and once by org, so the copies
    # start on different partitions; and a retry of the same body.
    first = [(t, body, SITE_ID) for t, body in SAMPLES.items()]
    again = [(t, body, ORG_ID) for t, body in SAMPLES.items()] + [
        (t, body, SITE_ID) for t, body in SAMPLES.items()
    ]
    await produce(deployment, first)
    await produce(deployment, again)

    total = sum(EVENTS.values())
    # Every copy was read once the worker counted them all as duplicates; then the topics hold the rest.
    await wait_for_metric(worker, "mistpipe_worker_duplicates_total", 2 * total)
    records = await read_topics(deployment.bootstrap, enriched_topics(deployment), until=total)
    got = by_topic(records)
    for topic, count in EVENTS.items():
        assert len(got.get(deployment.topic(f"{topic}.enriched"), [])) == count, topic
    assert len(records) == total


async def test_invalid_event_dead_lettered_valid_ones_enriched(deployment, worker_factory):
    load_reference(deployment, MIST_API)
    worker_factory(deployment)
    body = orjson.loads(SAMPLES["location"])
    body["events"].insert(1, dict(body["events"][0], x="far away", mac="7f:c2:93:6f:d2:44"))
    await produce(deployment, [("location", orjson.dumps(body), SITE_ID), ("zone", b"{not json", SITE_ID)])

    topics = [deployment.topic("location.enriched"), deployment.topic("deadletter")]
    records = await read_topics(deployment.bootstrap, topics, until=5)
    got = by_topic(records)
    assert len(got[deployment.topic("location.enriched")]) == 3
    dead = [orjson.loads(r.value) for r in got[deployment.topic("deadletter")]]
    assert len(dead) == 2
    bad_event = next(d for d in dead if d["mist_topic"] == "location")
    assert [e["field"] for e in bad_event["errors"]] == ["x"]
    assert bad_event["event"]["x"] == "far away" and bad_event["index"] == 1
    assert bad_event["source"]["topic"] == deployment.topic("location")
    bad_body = next(d for d in dead if d["mist_topic"] == "zone")
    assert bad_body["errors"][0]["field"] is None and "not JSON" in bad_body["errors"][0]["message"]
    assert bad_body["body"] == "{not json"


async def test_unknown_site_and_map_flow_marked_and_counted(deployment, worker_factory):
    load_reference(deployment, MIST_API)
    worker = worker_factory(deployment)
    site, map_id = "0c1a9f8e-0000-4c6e-9a7f-3b2e1d0c9f8e", "7d6c5b4a-0000-1d0c-9b8a-7f6e5d4c3b2a"
    event = dict(orjson.loads(SAMPLES["location"])["events"][0], site_id=site, map_id=map_id)
    await produce(deployment, [("location", orjson.dumps({"topic": "location", "events": [event]}), site)])

    records = await read_topics(deployment.bootstrap, [deployment.topic("location.enriched")], until=1)
    assert len(records) == 1
    out = orjson.loads(records[0].value)
    assert out["mist"]["enriched"] is False and out["mist"]["missing"] == ["site", "map"]
    assert out["site_id"] == site and "site" not in out and "map" not in out
    await wait_for_metric(worker, "mistpipe_worker_not_enriched_total", 1)


async def test_renamed_site_applies_without_restart(deployment, worker_factory, tmp_path):
    load_reference(deployment, MIST_API)
    worker_factory(deployment)
    location = orjson.loads(SAMPLES["location"])
    first = dict(location, events=location["events"][:1])
    await produce(deployment, [("location", orjson.dumps(first), SITE_ID)])
    topic = [deployment.topic("location.enriched")]
    records = await read_topics(deployment.bootstrap, topic, until=1)
    assert orjson.loads(records[0].value)["site"]["name"] == "Mist Office"

    sites = json.loads((MIST_API / "GET_orgs_org_id_sites.json").read_text())
    sites[0]["name"] = "Mist HQ"
    renamed = tmp_path / "sites.json"
    renamed.write_text(json.dumps(sites))
    load_reference(deployment, renamed)

    # The worker applies the change as it reads it; later events carry the new name.
    deadline = time.monotonic() + 30
    names = []
    for n in range(1, 60):
        later = dict(location, events=[dict(location["events"][0], timestamp=1749106728 + n)])
        await produce(deployment, [("location", orjson.dumps(later), SITE_ID)])
        records = await read_topics(deployment.bootstrap, topic, until=n + 1, timeout=10)
        names = [orjson.loads(r.value)["site"]["name"] for r in records]
        if names[-1] == "Mist HQ" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert names[0] == "Mist Office" and names[-1] == "Mist HQ"


async def test_dedupe_state_expires_after_the_horizon(deployment, worker_factory):
    """The dedupe state is bounded: fingerprints older than the horizon are deleted and tombstoned, after
    which the same event counts as new again."""
    load_reference(deployment, MIST_API)
    worker = worker_factory(deployment, MISTPIPE_DEDUPE_SECONDS="2", MISTPIPE_COMMIT_INTERVAL_S="0.5")
    ping = [("ping", SAMPLES["ping"], SITE_ID)]
    await produce(deployment, ping + ping)
    await wait_for_metric(worker, "mistpipe_worker_duplicates_total", 1)
    await wait_for_metric(worker, "mistpipe_worker_expired_keys_total", 1, timeout=30)
    assert metric_total(worker, "mistpipe_worker_dedupe_keys") == 0

    # The changelog ends with the fingerprint's tombstone (the partition's marks records aside): a
    # restarted worker does not bring the mark back.
    def fingerprints(records) -> list:
        return [r for r in records if "~marks" not in decode_key(r.key)]

    changelog = await read_topics(
        deployment.bootstrap,
        [f"{deployment.app_id}-dedupe-changelog"],
        until=lambda records: bool(fingerprints(records)) and fingerprints(records)[-1].value is None,
    )
    assert fingerprints(changelog)[-1].value is None

    await produce(deployment, ping)  # past the horizon: a new delivery, published again
    records = await read_topics(deployment.bootstrap, [deployment.topic("ping.enriched")], until=2)
    assert len(records) == 2


async def test_a_body_of_30000_location_events_is_taken_and_every_event_enriched(
    deployment, worker_factory, ingest_factory
):
    """Mist documents no largest batch: a signed body within MISTPIPE_MAX_BODY_BYTES goes through whole,
    whatever its number of events."""
    sample = orjson.loads(SAMPLES["location"])["events"][0]
    # As a real delivery spells a Wi-Fi client's location (mist-plugin's capture in tests/corpus).
    events = [
        {
            "mac": f"{i:012x}",
            "map_id": sample["map_id"],
            "rssi": -70,
            "site_id": sample["site_id"],
            "timestamp": 1749106800 + i,
            "type": "wifi",
            "x": i % 50 + 0.5,
            "y": i % 40 + 0.25,
        }
        for i in range(30_000)
    ]
    body = orjson.dumps({"topic": "location", "events": events})
    assert len(body) < 10 * 1024 * 1024  # the default limit
    worker_factory(deployment)
    ingest = ingest_factory(deployment)
    assert await post_bodies(ingest.url, deployment.secret, [body]) == [200]

    name = deployment.topic("location.enriched")
    records = await read_topics(deployment.bootstrap, [name], until=30_000, timeout=240)
    indexes = sorted(orjson.loads(r.value)["mist"]["source"]["index"] for r in records)
    assert indexes == list(range(30_000))
    assert {decode_key(r.key) for r in records} == {e["mac"] for e in events}
