"""The ceilings the benchmarks compare against, each run as a process of its own
(`python -m mistpipe.bench.baselines http|produce|consume ...`):

- `http`: the ingest's aiohttp server set up the same way (AppRunner without access log, one TCPSite),
  with a handler that only reads the body and answers 200: the HTTP ceiling;
- `produce`: a bare producer (confluent-kafka or aiokafka) sending the same bodies, same key, same
  headers, acks=all, idempotent, as fast as it can: the Kafka ceilings; prints one JSON line;
- `consume`: a bare aiokafka loop that reads the raw topics, orjson-parses each body and produces one
  record per event (acks=all): the Python ceiling of the pipeline's work; prints one JSON line;
- `faust`: the same work as a one-agent Faust app (consume, orjson, one `Topic.send` per event; no table,
  no web): what Faust's own per-record machinery costs before the pipeline adds anything; one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import time

import orjson

# -- HTTP ceiling ----------------------------------------------------------------------------------------


async def serve_http(host: str, port: int) -> None:
    from aiohttp import web

    from ingest.server import WEBHOOK_PATH

    answer = orjson.dumps({"accepted": 10, "topic": "ceiling"})

    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/readyz", healthz)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


# -- Kafka ceilings --------------------------------------------------------------------------------------


def _bodies(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return [line.rstrip(b"\n").split(b"\t", 1)[1] for line in f if line.strip()]


def _record(raw: bytes) -> tuple[str, bytes | None, list[tuple[str, bytes]]]:
    """What the ingest makes of a body: Mist topic, key, headers (received-at set at send time)."""
    from ingest.routing import parse, record_key
    from topics import headers as h

    hook = parse(raw)
    headers = [(h.MIST_TOPIC, hook.topic.encode()), (h.SIGNATURE_VERIFIED, b"true")]
    return hook.topic, record_key(hook.events), headers


def produce_confluent(bootstrap: str, topic: str, bodies: list[bytes], seconds: float) -> dict:
    from confluent_kafka import Producer

    from ingest.producer import KafkaProducer
    from topics import headers as h

    config = {
        k: v
        for k, v in KafkaProducer(bootstrap, 5.0, 1_000_000).config.items()
        if k not in ("logger", "error_cb")
    }
    config["client.id"] = "mistpipe-bench"
    producer = Producer(config)
    records = [_record(raw) for raw in bodies]
    counts = {"ok": 0, "failed": 0}

    def delivered(err: object, _msg: object) -> None:
        counts["failed" if err is not None else "ok"] += 1

    n = len(bodies)
    sent = 0
    started = time.perf_counter()
    end = started + seconds
    while time.perf_counter() < end:
        for _ in range(64):
            _topic, key, headers = records[sent % n]
            now_ms = str(time.time_ns() // 1_000_000).encode()
            try:
                producer.produce(
                    topic,
                    bodies[sent % n],
                    key,
                    headers=[*headers, (h.RECEIVED_AT_MS, now_ms)],
                    on_delivery=delivered,
                )
            except BufferError:
                producer.poll(0.005)
                continue
            sent += 1
        producer.poll(0)
    producer.flush(30)
    elapsed = time.perf_counter() - started
    return {
        "library": "confluent-kafka",
        "acked": counts["ok"],
        "failed": counts["failed"],
        "seconds": elapsed,
    }


async def produce_aiokafka(bootstrap: str, topic: str, bodies: list[bytes], seconds: float) -> dict:
    from aiokafka import AIOKafkaProducer

    from topics import headers as h

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        client_id="mistpipe-bench",
        max_request_size=1_048_576 * 2,
    )
    await producer.start()
    records = [_record(raw) for raw in bodies]
    pending: collections.deque = collections.deque()
    counts = {"ok": 0, "failed": 0}

    async def settle(future: asyncio.Future) -> None:
        try:
            await future
            counts["ok"] += 1
        except Exception:
            counts["failed"] += 1

    n = len(bodies)
    sent = 0
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            _topic, key, headers = records[sent % n]
            now_ms = str(time.time_ns() // 1_000_000).encode()
            future = await producer.send(
                topic, bodies[sent % n], key=key, headers=[*headers, (h.RECEIVED_AT_MS, now_ms)]
            )
            pending.append(future)
            sent += 1
            while len(pending) > 2000:
                await settle(pending.popleft())
        while pending:
            await settle(pending.popleft())
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"library": "aiokafka", "acked": counts["ok"], "failed": counts["failed"], "seconds": elapsed}


# -- the pipeline's Python ceiling -----------------------------------------------------------------------

_KEY_FIELDS = ("mac", "zone_id", "id")


async def consume_produce(bootstrap: str, topics: list[str], sink: str) -> dict:
    """Read `topics` from the beginning to their current end; one record per event to `sink`."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="mistpipe-bench-loop")
    await consumer.start()
    await producer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        bodies = events = 0
        pending: collections.deque = collections.deque()
        started = None
        while bodies < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    bodies += 1
                    for event in orjson.loads(record.value)["events"]:
                        key = next((event[f] for f in _KEY_FIELDS if event.get(f)), None)
                        future = await producer.send(
                            sink,
                            orjson.dumps(event),
                            key=orjson.dumps(key),
                            timestamp_ms=int(event["timestamp"] * 1000),
                        )
                        pending.append(future)
                        events += 1
                        while len(pending) > 5000:
                            await pending.popleft()
        while pending:
            await pending.popleft()
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await producer.stop()
        await consumer.stop()
    return {"bodies": bodies, "events": events, "seconds": elapsed}


def faust_loop(bootstrap: str, topics: list[str], sink: str, events: int) -> None:
    """The bare loop's work in a Faust agent; prints its JSON line once `events` records are acked."""
    import os
    import tempfile
    import uuid

    import faust

    name = f"mistpipe-bench-faust-{uuid.uuid4().hex[:8]}"
    app = faust.App(
        name,
        datadir=tempfile.mkdtemp(prefix=f"{name}-"),  # not in the working directory
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        autodiscover=False,
        logging_config=None,
    )
    raw = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    out = app.topic(sink, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    seen = {"events": 0, "bodies": 0, "started": 0.0}

    @app.agent(raw)
    async def loop(stream: object) -> None:
        async for value in stream:  # type: ignore[attr-defined]
            if not seen["bodies"]:
                seen["started"] = time.perf_counter()
            seen["bodies"] += 1
            for event in orjson.loads(value)["events"]:
                key = next((event[f] for f in _KEY_FIELDS if event.get(f)), None)
                await out.send(key=orjson.dumps(key), value=orjson.dumps(event), timestamp=event["timestamp"])
                seen["events"] += 1
            if seen["events"] >= events:
                await app.producer.flush()
                elapsed = time.perf_counter() - seen["started"]
                result = {"bodies": seen["bodies"], "events": seen["events"], "seconds": elapsed}
                sys.stdout.write(json.dumps(result) + "\n")
                sys.stdout.flush()
                os._exit(0)  # measured and acked: a Faust shutdown would only add seconds to the run

    faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mistpipe.bench.baselines")
    sub = parser.add_subparsers(dest="command", required=True)
    http = sub.add_parser("http")
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--port", type=int, required=True)
    produce = sub.add_parser("produce")
    produce.add_argument("--library", choices=["confluent-kafka", "aiokafka"], required=True)
    produce.add_argument("--bootstrap", required=True)
    produce.add_argument("--topic", required=True)
    produce.add_argument("--bodies", required=True)
    produce.add_argument("--seconds", type=float, required=True)
    consume = sub.add_parser("consume")
    consume.add_argument("--bootstrap", required=True)
    consume.add_argument("--topics", required=True, help="comma-separated")
    consume.add_argument("--sink", required=True)
    floor = sub.add_parser("faust")
    floor.add_argument("--bootstrap", required=True)
    floor.add_argument("--topics", required=True, help="comma-separated")
    floor.add_argument("--sink", required=True)
    floor.add_argument("--events", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "faust":
        faust_loop(args.bootstrap, args.topics.split(","), args.sink, args.events)
        return
    if args.command == "http":
        asyncio.run(serve_http(args.host, args.port))
        return
    if args.command == "produce":
        bodies = _bodies(args.bodies)
        if args.library == "confluent-kafka":
            result = produce_confluent(args.bootstrap, args.topic, bodies, args.seconds)
        else:
            result = asyncio.run(produce_aiokafka(args.bootstrap, args.topic, bodies, args.seconds))
    else:
        result = asyncio.run(consume_produce(args.bootstrap, args.topics.split(","), args.sink))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
