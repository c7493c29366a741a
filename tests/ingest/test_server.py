"""The ingest against the real broker: what it writes, what it refuses, what it reports."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from ingest_support import (
    OTHER_SECRET,
    SAMPLES,
    end_offsets,
    expected_key,
    java_partition,
    post,
    records_since,
)
from prometheus_client.parser import text_string_to_metric_families

from ingest.signature import SIGNATURE_SHA1, SIGNATURE_V2, sign
from topics import headers as h

PING = SAMPLES["ping"]


def ping_of_site(site_id: str, org_id: str = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61") -> bytes:
    return json.dumps(
        {"topic": "ping", "events": [{"site_id": site_id, "org_id": org_id, "timestamp": 1}]}
    ).encode()


async def test_every_sample_lands_verbatim_in_its_topic(deployment, start_ingest, group_id):
    client = await start_ingest()
    before = await end_offsets(deployment)
    started_ms = time.time_ns() // 1_000_000
    for name, body in SAMPLES.items():
        response = await post(client, body, deployment.secret)
        assert response.status == 200, await response.text()
        events = len(json.loads(body)["events"])
        assert await response.json() == {"accepted": events, "topic": deployment.topic(name)}
    finished_ms = time.time_ns() // 1_000_000

    records = await records_since(deployment.bootstrap, before, group_id)
    by_topic = {r.topic: r for r in records}
    assert len(records) == len(by_topic) == len(SAMPLES) == 24
    for name, body in SAMPLES.items():
        record = by_topic[deployment.topic(name)]
        assert record.value == body  # byte for byte
        headers = dict(record.headers)
        assert headers[h.MIST_TOPIC] == name.encode()
        assert started_ms <= int(headers[h.RECEIVED_AT_MS]) <= finished_ms
        assert headers[h.SIGNATURE_VERIFIED] == b"true"
        assert record.key == expected_key(body) is not None
        assert record.partition == java_partition(record.key, deployment.partitions)


async def test_underscore_and_unknown_topics(deployment, start_ingest, group_id):
    client = await start_ingest()
    before = await end_offsets(deployment)
    underscored = SAMPLES["location-asset"].replace(b'"location-asset"', b'"location_asset"', 1)
    unknown = PING.replace(b'"ping"', b'"made-up-topic"', 1)
    assert underscored != SAMPLES["location-asset"] and unknown != PING
    for body in (underscored, unknown):
        assert (await post(client, body, deployment.secret)).status == 200

    records = {r.topic: r for r in await records_since(deployment.bootstrap, before, group_id)}
    assert set(records) == {deployment.topic("location-asset"), deployment.topic("unrouted")}
    asset = records[deployment.topic("location-asset")]
    assert asset.value == underscored
    assert dict(asset.headers)[h.MIST_TOPIC] == b"location_asset"  # as received
    unrouted = records[deployment.topic("unrouted")]
    assert unrouted.value == unknown
    assert dict(unrouted.headers)[h.MIST_TOPIC] == b"made-up-topic"


async def test_keys_sit_where_murmur2_puts_them(deployment, start_ingest, group_id):
    """librdkafka's default partitioner is CRC32; Faust's table_route expects Java's murmur2."""
    client = await start_ingest()
    before = await end_offsets(deployment)
    sites = [str(uuid.uuid4()) for _ in range(40)]
    for site in sites:
        assert (await post(client, ping_of_site(site), deployment.secret)).status == 200
    records = await records_since(deployment.bootstrap, before, group_id)
    assert sorted(json.loads(r.key) for r in records) == sorted(sites)
    for record in records:
        assert record.partition == java_partition(record.key, deployment.partitions)
    assert len({r.partition for r in records}) > 1  # 40 keys over 4 partitions: the check has teeth


async def test_key_site_else_org_else_none(deployment, start_ingest, group_id):
    client = await start_ingest()
    before = await end_offsets(deployment)
    org = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
    bodies = {
        "site": [{"site_id": "s1", "org_id": org}, {"site_id": "s1", "org_id": org}],
        "org": [{"site_id": "s1", "org_id": org}, {"site_id": "s2", "org_id": org}],
        "none": [{"site_id": "s1", "org_id": "o1"}, {"site_id": "s2", "org_id": "o2"}],
        "empty": [],
    }
    for name, events in bodies.items():
        body = json.dumps({"topic": "audits", "events": events, "name": name}).encode()
        assert (await post(client, body, deployment.secret)).status == 200
    records = await records_since(deployment.bootstrap, before, group_id)
    keys = {json.loads(r.value)["name"]: r.key for r in records}
    assert keys == {"site": b'"s1"', "org": json.dumps(org).encode(), "none": None, "empty": None}


async def assert_nothing_written(deployment, client, group_id, before) -> None:
    """Post a marker: it must be the one record written since ``before``."""
    marker = ping_of_site(f"marker-{uuid.uuid4()}")
    assert (await post(client, marker, deployment.secret)).status == 200
    records = await records_since(deployment.bootstrap, before, group_id)
    assert [r.value for r in records] == [marker]


async def test_signatures(deployment, start_ingest, group_id):
    client = await start_ingest()
    before = await end_offsets(deployment)
    signed = sign(PING, deployment.secret)
    refused = {
        "missing": {},
        "wrong": {SIGNATURE_V2: "0" * 64},
        "of another body": {SIGNATURE_V2: sign(PING + b" ", deployment.secret)[SIGNATURE_V2]},
        "wrong secret": sign(PING, "not-the-secret"),
        "sha1 only, not accepted": {SIGNATURE_SHA1: signed[SIGNATURE_SHA1]},
        "not hex": {SIGNATURE_V2: "ünïcode and spaces"},
    }
    for case, headers in refused.items():
        response = await post(client, PING, headers=headers)
        assert response.status == 401, case
        assert "error" in await response.json(), case
    await assert_nothing_written(deployment, client, group_id, before)

    # Either secret of a rotation works; an uppercase hex digest too.
    for secret in (deployment.secret, OTHER_SECRET):
        assert (await post(client, PING, secret)).status == 200
    upper = {SIGNATURE_V2: signed[SIGNATURE_V2].upper()}
    assert (await post(client, PING, headers=upper)).status == 200


async def test_sha1_only_when_accepted(start_ingest, deployment):
    client = await start_ingest(accept_sha1=True)
    sha1 = {SIGNATURE_SHA1: sign(PING, deployment.secret)[SIGNATURE_SHA1]}
    assert (await post(client, PING, headers=sha1)).status == 200
    assert (await post(client, PING, headers={SIGNATURE_SHA1: "0" * 40})).status == 401


async def test_unsigned_only_when_allowed(start_ingest, deployment, group_id):
    with pytest.raises(ValueError, match="MISTPIPE_WEBHOOK_SECRETS"):
        await start_ingest(webhook_secrets=[])
    client = await start_ingest(webhook_secrets=[], allow_unsigned=True)
    before = await end_offsets(deployment)
    assert (await post(client, PING)).status == 200
    [record] = await records_since(deployment.bootstrap, before, group_id)
    assert dict(record.headers)[h.SIGNATURE_VERIFIED] == b"false"


async def test_oversized_bodies(deployment, start_ingest, group_id):
    limit = 2048
    client = await start_ingest(max_body_bytes=limit)
    before = await end_offsets(deployment)
    over = PING[:-2] + b" " * (limit - len(PING) + 1) + PING[-2:]
    assert len(over) == limit + 1

    response = await post(client, over, deployment.secret)  # Content-Length says it
    assert response.status == 413
    assert "2048" in (await response.json())["error"]

    async def chunks():  # chunked: no Content-Length, counted while read
        for i in range(0, len(over), 256):
            yield over[i : i + 256]

    signed = sign(over, deployment.secret)
    response = await client.post("/webhooks/mist", data=chunks(), headers=signed)
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert response.status == 413
    await assert_nothing_written(deployment, client, group_id, before)

    exactly = over[:-3] + over[-2:]  # one space less: exactly at the limit
    assert len(exactly) == limit
    assert (await post(client, exactly, deployment.secret)).status == 200


async def test_content_length_over_the_limit_is_refused_unread(start_ingest, deployment):
    client = await start_ingest(max_body_bytes=1024)
    body = b'{"topic": "ping", "events": []}' + b" " * 4096
    assert (await post(client, body, deployment.secret)).status == 413
    bytes_in = metric(await metrics_of(client), "mistpipe_ingest_body_bytes_total")
    assert bytes_in == 0  # refused on the header, before reading


BAD_SHAPES = {
    b"not json": "not JSON",
    b'{"topic": "ping", "events": [}': "not JSON",
    b"\xff\xfe{}": "not JSON",
    b"": "not JSON",
    b"[]": "JSON object",
    b'"ping"': "JSON object",
    b'{"events": []}': '"topic" is missing',
    b'{"topic": "ping"}': '"events" is missing',
    b'{"topic": 7, "events": []}': '"topic" must be',
    b'{"topic": "  ", "events": []}': '"topic" must not be empty',
    b'{"topic": null, "events": []}': '"topic" must be',
    b'{"topic": "ping", "events": {}}': '"events" must be a list',
    b'{"topic": "ping", "events": "[]"}': '"events" must be a list',
    b'{"topic": "ping", "events": [1]}': '"events"[0] must be an object',
    b'{"topic": "ping", "events": [{}, []]}': '"events"[1] must be an object',
}


async def test_bad_shapes(deployment, start_ingest, group_id):
    client = await start_ingest()
    before = await end_offsets(deployment)
    for body, reason in BAD_SHAPES.items():
        response = await post(client, body, deployment.secret)
        assert response.status == 400, body
        assert response.content_type == "application/json"
        assert reason in (await response.json())["error"], body
    await assert_nothing_written(deployment, client, group_id, before)


async def test_inflight_limit_answers_503_with_retry_after(deployment, start_ingest):
    client = await start_ingest(max_inflight=1)
    release = asyncio.Event()

    async def slow():  # holds the one slot while its body trickles in
        yield PING[:10]
        await release.wait()
        yield PING[10:]

    first = asyncio.create_task(
        client.post("/webhooks/mist", data=slow(), headers=sign(PING, deployment.secret))
    )
    async with asyncio.timeout(30):
        while metric(await metrics_of(client), "mistpipe_ingest_inflight_requests") < 1:
            await asyncio.sleep(0.02)
    busy = await post(client, PING, deployment.secret)
    assert busy.status == 503
    assert busy.headers["Retry-After"] == "1"
    release.set()
    assert (await first).status == 200
    assert (await post(client, PING, deployment.secret)).status == 200


async def metrics_of(client) -> dict:
    response = await client.get("/metrics")
    assert response.status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_health_and_metrics(deployment, start_ingest):
    client = await start_ingest()
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.json() == {"ready": True}

    bodies = [SAMPLES["location"], SAMPLES["zone"], SAMPLES["location"]]
    for body in bodies:
        assert (await post(client, body, deployment.secret)).status == 200
    assert (await post(client, PING)).status == 401
    assert (await post(client, b"[]", deployment.secret)).status == 400

    samples = await metrics_of(client)
    assert metric(samples, "mistpipe_ingest_requests_total", status="200") == 3
    assert metric(samples, "mistpipe_ingest_requests_total", status="401") == 1
    assert metric(samples, "mistpipe_ingest_requests_total", status="400") == 1
    assert metric(samples, "mistpipe_ingest_events_total", topic=deployment.topic("location")) == 6
    assert metric(samples, "mistpipe_ingest_events_total", topic=deployment.topic("zone")) == 4
    assert metric(samples, "mistpipe_ingest_produce_seconds_count") == 3
    assert metric(samples, "mistpipe_ingest_produce_seconds_bucket", le="+Inf") == 3
    assert metric(samples, "mistpipe_ingest_body_bytes_total") == sum(map(len, bodies)) + len(PING) + 2
    assert metric(samples, "mistpipe_ingest_inflight_requests") == 0


async def test_body_over_the_brokers_record_limit_is_413(deployment, start_ingest):
    """Under the ingest's limit (10 MiB) but over the topic's max.message.bytes (1 MiB by default): the broker
    refuses it for good, so 413 with the reason, not a 503 that a sender would retry forever."""
    client = await start_ingest()
    big = json.dumps({"topic": "ping", "events": [{"site_id": "s", "pad": "x" * 1_200_000}]}).encode()
    response = await post(client, big, deployment.secret)
    assert response.status == 413
    assert "too large" in (await response.json())["error"]
    assert (await post(client, PING, deployment.secret)).status == 200
