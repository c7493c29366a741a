"""Kafka goes away and comes back: the ingest answers 503 in bounded time, then 200 again, by itself."""

import asyncio
import shutil
import time

from aiohttp.test_utils import TestClient, TestServer
from ingest_support import SAMPLES, post
from support import REPO, free_port

from ingest.server import make_app
from mistpipe.admin import ensure_topics
from mistpipe.localkafka import LocalBroker
from mistpipe.settings import Settings
from topics.names import all_topics

PRODUCE_TIMEOUT_S = 3.0
MARGIN_S = 2.0  # scheduling slack on a busy 2-core machine: a bound against hanging, not a timing claim


async def answer_within(client: TestClient, request, seconds: float):
    started = time.monotonic()
    response = await request(client)
    assert time.monotonic() - started < seconds, "the ingest must answer, not hang"
    return response


async def test_broker_stopped_then_back(unique):
    # A broker of its own: stopping the session broker would break every other test.
    broker = LocalBroker(REPO / ".mistpipe", port=free_port(), controller_port=free_port())
    await asyncio.to_thread(broker.start)
    client = None
    try:
        prefix = unique("outage") + "."
        await ensure_topics(broker.bootstrap, all_topics(prefix), 1)
        settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=prefix,
            webhook_secrets=["s"],
            produce_timeout_s=PRODUCE_TIMEOUT_S,
        )
        client = TestClient(TestServer(make_app(settings)))
        await client.start_server()
        ping = SAMPLES["ping"]
        assert (await post(client, ping, "s")).status == 200

        await asyncio.to_thread(broker.stop)
        bound = PRODUCE_TIMEOUT_S + MARGIN_S
        for _ in range(2):  # the first send after the loss, and one once the client knows
            down = await answer_within(client, lambda c: post(c, ping, "s"), bound)
            assert down.status == 503
            assert int(down.headers["Retry-After"]) > 0
        ready = await answer_within(client, lambda c: c.get("/readyz"), bound)
        assert ready.status == 503
        assert (await client.get("/healthz")).status == 200  # alive, just not ready

        await asyncio.to_thread(broker.start)  # same port, same data dir
        deadline = time.monotonic() + 90
        while (status := (await post(client, ping, "s")).status) != 200 and time.monotonic() < deadline:
            assert status == 503
            await asyncio.sleep(0.5)
        assert status == 200, "the same ingest accepts again once Kafka is back"
        assert (await client.get("/readyz")).status == 200
    finally:
        if client is not None:
            await client.close()
        await asyncio.to_thread(broker.stop)
        shutil.rmtree(broker.node_dir, ignore_errors=True)
