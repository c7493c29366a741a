"""The session broker is a real Kafka: produce with acks=all, consume it back, keys and headers intact."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def test_produce_then_consume(kafka_bootstrap, topic_factory, group_id):
    topic = topic_factory("roundtrip", partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = {}
        for i in range(30):
            md = await producer.send_and_wait(
                topic, value=f"v{i}".encode(), key=f"k{i % 5}".encode(), headers=[("n", str(i).encode())]
            )
            sent[i] = md.partition
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group_id, auto_offset_reset="earliest"
    )
    await consumer.start()
    got = {}
    try:
        async with asyncio.timeout(30):
            while len(got) < 30:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for r in records:
                        i = int(dict(r.headers)["n"])
                        assert r.value == f"v{i}".encode() and r.key == f"k{i % 5}".encode()
                        got[i] = r.partition
    finally:
        await consumer.stop()
    assert got == sent
    # Same key, same partition: the property the pipeline's keying relies on.
    by_key = {}
    for i, p in got.items():
        by_key.setdefault(i % 5, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())


async def test_records_with_old_timestamps_stay(kafka_bootstrap, topic_factory):
    """Enriched records carry their event's time, and the tests' events are from 2025: the session broker must
    not delete them by time retention while a test reads them back."""
    topic = topic_factory("old-timestamps")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"2025-06-05", timestamp_ms=1749106800000)
    finally:
        await producer.stop()
    await asyncio.sleep(3)  # past the local session broker's retention check (every second)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    assert [r.value for records in batches.values() for r in records] == [b"2025-06-05"]
