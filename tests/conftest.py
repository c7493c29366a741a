"""Fixtures shared by every test: one real Kafka broker per session, unique topics and groups per test.

Where the broker comes from, first match wins:
1. MISTPIPE_KAFKA_BOOTSTRAP, when set (a broker someone runs already);
2. testcontainers' Kafka, when a Docker engine answers;
3. the project's own local broker (`mistpipe kafka start`), on free ports, stopped at the end.
There is no fourth way: a test that needs Kafka fails without one, it never skips.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
from support import REPO, Deployment, Service, free_port, run_async

from mistpipe.admin import delete_topics


def _docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("MISTPIPE_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    # No time retention: the samples and scenarios carry event times from 2025, enriched and derived records
    # carry the event time as their Kafka timestamp, and a 7-day retention deletes them at the broker's next
    # retention check (every 5 minutes), in the middle of whichever test is reading them back. The local
    # broker checks every second from its start: a test that relies on time retention fails every time.
    if _docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
        with container.with_env("KAFKA_LOG_RETENTION_MS", "-1") as container:
            yield container.get_bootstrap_server()
        return
    from mistpipe.localkafka import LocalBroker

    broker = LocalBroker(
        REPO / ".mistpipe",
        port=free_port(),
        controller_port=free_port(),
        overrides={
            "log.retention.ms": "-1",
            "log.retention.check.interval.ms": "1000",
            "log.initial.task.delay.ms": "1000",  # the first check, 30 s after the start by default
        },
    )
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique("orders") -> "orders-<8 hex>": a name no other test (or earlier run) uses."""
    return lambda base: f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def group_id(unique) -> str:
    return unique("test-group")


@pytest.fixture
def topic_factory(kafka_bootstrap, unique) -> Callable[..., str]:
    """Create a fresh topic on the session broker: topic_factory("raw", partitions=3) -> its unique name."""
    from mistpipe.admin import ensure_topics
    from topics.names import TopicSpec

    def create(base: str = "topic", partitions: int = 1, compacted: bool = False) -> str:
        name = unique(base)
        # run_async: the factory works in sync and async tests alike.
        report = run_async(ensure_topics(kafka_bootstrap, [TopicSpec(name, compacted)], partitions))
        assert report.created == [name], report
        return name

    return create


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (MISTPIPE_NO_SKIP=1) a skipped test is a failed test: nothing that needs Kafka may skip."""
    outcome = yield
    report = outcome.get_result()
    item.call_failed = getattr(item, "call_failed", False) or (report.when == "call" and report.failed)
    # An expected failure (xfail) is reported as skipped too: it stays what it is.
    if os.environ.get("MISTPIPE_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and CI allows no skips: {report.longrepr}"


@pytest.fixture
def deployment_factory(kafka_bootstrap, unique, tmp_path) -> Iterator[Callable[..., Deployment]]:
    """A fresh deployment on the session broker: every topic of the contract under a unique prefix; its
    topics (and its workers' changelogs) are deleted after the test."""
    from mistpipe.admin import ensure_topics, raw_topic_configs
    from mistpipe.settings import Settings
    from topics.names import all_topics

    created: list[Deployment] = []
    max_body_bytes = Settings.model_fields["max_body_bytes"].default

    def create(partitions: int = 4) -> Deployment:
        name = unique("mp")
        deployment = Deployment(kafka_bootstrap, f"{name}.", partitions, name, tmp_path / name)
        configs = raw_topic_configs(deployment.prefix, max_body_bytes)  # as `mistpipe topics create` does
        report = run_async(
            ensure_topics(kafka_bootstrap, all_topics(deployment.prefix), partitions, configs=configs)
        )
        assert report.ok and not report.existing, report
        created.append(deployment)
        return deployment

    yield create
    for deployment in created:
        run_async(delete_topics(kafka_bootstrap, deployment.prefix, f"{deployment.app_id}-"))


@pytest.fixture
def deployment(deployment_factory) -> Deployment:
    return deployment_factory()


@pytest.fixture
def service_factory(tmp_path, request) -> Iterator[Callable[..., Service]]:
    """start(deployment, name, argv, ready_path, **env): a `mistpipe` process of a deployment on a free port
    (`{port}` in argv is replaced), ready once GET ready_path answers 200; all stopped after the test, and
    the end of each one's log printed when the test failed (CI keeps only the test session's output)."""
    started: list[Service] = []

    def start(deployment: Deployment, name: str, argv: list[str], ready_path: str, **env: str) -> Service:
        port = free_port()
        service = Service(
            f"{name}:{port}",
            [arg.replace("{port}", str(port)) for arg in argv],
            deployment.env(**{k: v.replace("{port}", str(port)) for k, v in env.items()}),
            tmp_path / "logs" / f"{name}-{port}.log",
            f"http://127.0.0.1:{port}{ready_path}",
        )
        service.port = port
        service.url = f"http://127.0.0.1:{port}/webhooks/mist"
        started.append(service)
        return service.start()

    yield start
    for service in started:  # all told at once: each takes a few seconds to shut down
        service.terminate()
    for service in started:
        service.stop()
        if getattr(request.node, "call_failed", False):
            print(f"--- the end of {service.name}'s log ---\n{service.tail(30)}")


@pytest.fixture
def worker_factory(service_factory) -> Callable[..., Service]:
    """Start `mistpipe worker` processes of a deployment."""
    return lambda deployment, **env: service_factory(
        deployment, "worker", ["worker"], "/readyz", MISTPIPE_WEB_PORT="{port}", **env
    )


@pytest.fixture
def ingest_factory(service_factory) -> Callable[..., Service]:
    """Start `mistpipe ingest` processes of a deployment, signed with its secret."""
    return lambda deployment, **env: service_factory(
        deployment, "ingest", ["ingest", "--port", "{port}"], "/readyz", **env
    )
