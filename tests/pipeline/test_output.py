"""The worker's output (librdkafka) on the real broker: settle waits for what was handed over before it."""

from __future__ import annotations

import asyncio

import pytest
from support import read_topics

from pipeline.output import Output, OutputError


async def test_settle_waits_for_every_record_handed_over_before_it(kafka_bootstrap, topic_factory):
    topic = topic_factory("out", partitions=3)
    out = Output(kafka_bootstrap)
    out.start()
    try:
        for i in range(500):
            out.send_keyed(topic, f'"k{i}"'.encode(), b"%d" % i, 1749106728000 + i)
        settling = asyncio.ensure_future(out.settle())
        await asyncio.sleep(0)
        out.send(topic, b'"late"', b"late")  # handed over while settling: the next commit's
        await settling
        assert settling.done() and out.sent == 501
        records = await read_topics(kafka_bootstrap, [topic], until=501)
        assert len(records) == 501
        by_value = {r.value: r for r in records}
        assert by_value[b"7"].timestamp == 1749106728007  # the event time, as given
        await out.settle()
    finally:
        await out.stop()


async def test_a_record_kafka_refuses_fails_the_settle(kafka_bootstrap, topic_factory):
    topic = topic_factory("out", partitions=1)
    out = Output(kafka_bootstrap, **{"message.timeout.ms": 3000})
    failed: list[str] = []
    out.on_failed = failed.append
    out.start()
    try:
        out.send(topic, b'"k"', b"v", partition=5)  # no such partition: never delivered
        with pytest.raises(OutputError):
            await out.settle()
        assert failed == [topic]
    finally:
        out._producer.purge()
        await out.stop()


def test_the_worker_lingers_as_configured_to_batch_its_records(tmp_path):
    from mistpipe.settings import Settings
    from pipeline.app import create_app

    assert Settings().worker_linger_ms == 50
    pipeline = create_app(Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1", worker_linger_ms=7))
    assert pipeline.output.config["linger.ms"] == 7
