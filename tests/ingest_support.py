"""Helpers of the ingest tests: posting as Mist does, and reading back what Kafka holds since a moment."""

from __future__ import annotations

import asyncio
import json

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from support import MIST_SAMPLES

from ingest.server import WEBHOOK_PATH
from ingest.signature import sign
from topics.names import all_topics

SAMPLES = {p.stem: p.read_bytes() for p in sorted(MIST_SAMPLES.glob("*.json"))}
OTHER_SECRET = "second-secret-of-a-rotation"


def expected_key(body: bytes) -> bytes | None:
    """The key the contract asks for, worked out here independently of ingest.routing."""
    events = json.loads(body)["events"]
    for field in ("site_id", "org_id"):
        values = {e.get(field) for e in events}
        if len(values) == 1 and None not in values:
            return json.dumps(values.pop()).encode()
    return None


def java_partition(key: bytes, partitions: int) -> int:
    """Where Java, aiokafka and so Faust put a key: murmur2 of its bytes."""
    return DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))


async def post(
    client: TestClient, body: bytes, secret: str | None = None, headers: dict | None = None, **kwargs
) -> ClientResponse:
    """POST a body as Mist does: signed with ``secret`` (None: unsigned)."""
    sent = {"Content-Type": "application/json", "User-Agent": "Mist-webhook"}
    if secret is not None:
        sent.update(sign(body, secret))
    sent.update(headers or {})
    response = await client.post(WEBHOOK_PATH, data=body, headers=sent, **kwargs)
    await response.read()
    return response


async def end_offsets(deployment) -> dict[TopicPartition, int]:
    """The end offset of every partition of the deployment's topics: what is there before a test acts."""
    consumer = AIOKafkaConsumer(bootstrap_servers=deployment.bootstrap)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(spec.name, p)
            for spec in all_topics(deployment.prefix)
            for p in range(deployment.partitions)
        ]
        consumer.assign(partitions)  # fetches their metadata; end_offsets alone waits ~7 s for it
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def records_since(bootstrap: str, since: dict[TopicPartition, int], group_id: str) -> list:
    """Every record written after ``since`` (from end_offsets), up to the current end of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        end = await consumer.end_offsets(list(since))
        pending = {tp for tp in since if end[tp] > since[tp]}
        records = []
        async with asyncio.timeout(60):
            while pending:
                for tp, batch in (await consumer.getmany(*pending, timeout_ms=1000)).items():
                    records += batch
                    if await consumer.position(tp) >= end[tp]:
                        pending.discard(tp)
        return records
    finally:
        await consumer.stop()
