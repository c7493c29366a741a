"""The ingest in-process (aiohttp's test server) on a test deployment's topics (on the session broker)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from ingest_support import OTHER_SECRET
from support import Deployment, run_async

from ingest.server import make_app
from mistpipe.admin import delete_topics, ensure_topics
from mistpipe.settings import Settings
from topics.names import all_topics


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap, tmp_path_factory) -> Iterator[Deployment]:
    """One deployment per test module, not per test: each holds every topic of the contract, and a broker's
    open files grow with its partitions. Tests tell their records apart by end offsets taken before acting."""
    name = f"mpi-{uuid.uuid4().hex[:8]}"
    deployment = Deployment(kafka_bootstrap, f"{name}.", 4, name, tmp_path_factory.mktemp(name))
    report = run_async(ensure_topics(kafka_bootstrap, all_topics(deployment.prefix), deployment.partitions))
    assert report.ok and not report.existing, report
    yield deployment
    run_async(delete_topics(kafka_bootstrap, deployment.prefix))


@pytest.fixture
async def start_ingest(deployment) -> AsyncIterator[Callable[..., TestClient]]:
    """start_ingest(**settings) -> a client of an ingest app on the deployment's topics, signed with its
    secret (and OTHER_SECRET); stopped at the end of the test."""
    clients: list[TestClient] = []

    async def start(**overrides: object) -> TestClient:
        values = {
            "kafka_bootstrap": deployment.bootstrap,
            "topic_prefix": deployment.prefix,
            "webhook_secrets": [deployment.secret, OTHER_SECRET],
            **overrides,
        }
        client = TestClient(TestServer(make_app(Settings(**values))))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
