"""Fixtures of the fault tests: a Kafka broker of a test's own, which the test may kill."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
from fault_support import create_topics
from support import REPO, Deployment, free_port, run_async

from mistpipe.localkafka import LocalBroker


@pytest.fixture
def own_broker() -> Iterator[LocalBroker]:
    """A local Apache Kafka broker on free ports, for this test alone (it may SIGKILL and restart it);
    stopped and its data deleted after the test. Request it before the service fixtures, so that the
    services stop first."""
    broker = LocalBroker(REPO / ".mistpipe", port=free_port(), controller_port=free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)


@pytest.fixture
def own_deployment(own_broker, tmp_path) -> Callable[..., Deployment]:
    """own_deployment(partitions): every topic of the contract under a unique prefix on `own_broker`."""

    def create(partitions: int = 2) -> Deployment:
        name = f"mpf-{uuid.uuid4().hex[:8]}"
        deployment = Deployment(own_broker.bootstrap, f"{name}.", partitions, name, tmp_path / name)
        run_async(create_topics(deployment))
        return deployment

    return create
