"""`mistpipe dev`: local broker, topics and every service in one command; Ctrl-C stops all it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from mistpipe.localkafka import BrokerError, LocalBroker
from mistpipe.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]


def services(settings: Settings) -> list[Service]:
    """The mistpipe processes that `dev` runs beside the broker, each a `mistpipe` subcommand."""
    return []


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MISTPIPE_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        MISTPIPE_TOPIC_PREFIX=settings.topic_prefix,
        MISTPIPE_PARTITIONS=str(settings.partitions),
        MISTPIPE_INGEST_PORT=str(settings.ingest_port),
        MISTPIPE_WEB_PORT=str(settings.web_port),
        MISTPIPE_STATE_DIR=str(settings.state_dir),
        MISTPIPE_WEBHOOK_SECRETS=",".join(s.get_secret_value() for s in settings.webhook_secrets),
    )
    return env


def _stop(procs: dict[str, subprocess.Popen], timeout: float = 20.0) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"[dev] {name} did not stop in {timeout:.0f}s: killed", err=True)
            proc.kill()
            proc.wait()


def run_dev(settings: Settings, port: int, controller_port: int) -> int:
    # The broker's port decides the bootstrap; settings.kafka_bootstrap is ignored here on purpose.
    broker = LocalBroker(settings.state_dir, port=port, controller_port=controller_port)
    started_broker = not broker.status().running
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: dict[str, subprocess.Popen] = {}
    code = 0
    try:
        click.echo(f"[dev] starting Kafka {broker.version} on {broker.bootstrap} (log: {broker.log})")
        try:
            settings = settings.model_copy(update={"kafka_bootstrap": broker.start()})
        except BrokerError as exc:
            click.echo(f"[dev] {exc}", err=True)
            return 1
        from mistpipe.cli import create_topics

        create_topics(settings)
        for service in services(settings):
            click.echo(f"[dev] starting {service.name}: mistpipe {' '.join(service.argv)}")
            procs[service.name] = subprocess.Popen(
                [sys.executable, "-m", "mistpipe.cli", *service.argv], env=_env(settings)
            )
        click.echo(
            f"[dev] running: Kafka at {settings.kafka_bootstrap}. Ctrl-C stops everything dev started."
        )
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    click.echo(f"[dev] {name} exited with {proc.returncode}; stopping the rest", err=True)
                    code = 1
                    stopping = True
            time.sleep(0.2)
    finally:
        # A second Ctrl-C must not interrupt the clean shutdown half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(procs)
        if started_broker:
            click.echo("[dev] stopping Kafka")
            broker.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo("[dev] stopped")
    return code
