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
