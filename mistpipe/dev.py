"""`mistpipe dev`: local broker, topics and every service in one command; Ctrl-C stops all it started."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
from pydantic import SecretStr

from mistpipe.localkafka import BrokerError, LocalBroker
from mistpipe.settings import Settings

# "Floor 1" of the sample site, where the simulator walks.
SAMPLE_MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]


def services(settings: Settings, simulate: bool = True) -> list[Service]:
    """The mistpipe processes that `dev` runs beside the broker, each a `mistpipe` subcommand: the ingest,
    the worker and (unless told not to) a simulated site posting webhooks to the ingest in real time."""
    found = [
        Service("ingest", ["ingest", "--port", str(settings.ingest_port)]),
        Service("worker", ["worker"]),
    ]
    if simulate:
        url = f"http://127.0.0.1:{settings.ingest_port}/webhooks/mist"
        found.append(Service("simulator", ["simulate", "--url", url]))
    return found


def _env(settings: Settings) -> dict[str, str]:
    """Every setting as its MISTPIPE_* variable, so each service runs with what dev was given."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        variable = f"MISTPIPE_{name.upper()}"
        if value is None:  # unset (the query token): not the string "None"
            env.pop(variable, None)
            continue
        if isinstance(value, list):  # the secrets: comma-separated, as the variable is read
            value = ",".join(s.get_secret_value() for s in value)
        elif isinstance(value, SecretStr):  # the query token: its value, not "**********"
            value = value.get_secret_value()
        env[variable] = str(value)
    return env


def _stop(procs: dict[str, subprocess.Popen], timeout: float = 20.0) -> None:
    simulator = procs.get("simulator")
    if simulator is not None and simulator.poll() is None:
        # First, so that its last batches still find the ingest up.
        simulator.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            simulator.wait(5)
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


def _replay_command(settings: Settings, generated_secret: str | None) -> str:
    samples = Path(__file__).resolve().parent / "samples" / "webhooks"
    if samples.is_relative_to(Path.cwd()):
        samples = samples.relative_to(Path.cwd())
    url = f"http://127.0.0.1:{settings.ingest_port}/webhooks/mist"
    # A secret the user set is in their environment already, where replay finds it; never echo it.
    prefix = f"MISTPIPE_REPLAY_SECRET={generated_secret} " if generated_secret else ""
    return f"{prefix}mistpipe replay {samples} --url {url}"


def _load_sample_reference(settings: Settings, simulate: bool = False) -> None:
    """The sample site, map and zone (Mist's API answers, shipped in mistpipe/samples/api), so that the
    samples and the simulator are enriched out of the box; with the simulator, its zones on the sample map
    too (mistpipe/simulator/site). Compacted topics: loading twice is harmless."""
    import asyncio

    from mistpipe.simulator import DEFAULT_REFERENCE, SAMPLE_REFERENCE
    from pipeline.reference import publish, read_files

    folders = DEFAULT_REFERENCE if simulate else (SAMPLE_REFERENCE,)
    files = [f for folder in folders for f in sorted(folder.glob("*.json"))]
    counts = asyncio.run(publish(settings.kafka_bootstrap, settings.topic_prefix, read_files(files)))
    click.echo("[dev] sample reference data loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


def run_dev(
    settings: Settings, port: int, controller_port: int, sample_reference: bool = True, simulate: bool = True
) -> int:
    # The broker's port decides the bootstrap; settings.kafka_bootstrap is ignored here on purpose.
    broker = LocalBroker(settings.state_dir, port=port, controller_port=controller_port)
    started_broker = not broker.status().running
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: dict[str, subprocess.Popen] = {}
    service_logs: dict[str, Path | None] = {}
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
        if sample_reference:
            _load_sample_reference(settings, simulate)
        generated = None
        if not settings.webhook_secrets:  # the ingest refuses to run unsigned: give it a secret of this run
            generated = secrets.token_urlsafe()
            settings = settings.model_copy(update={"webhook_secrets": [SecretStr(generated)]})
            click.echo(f"[dev] MISTPIPE_WEBHOOK_SECRETS not set; webhook secret of this run: {generated}")
        logs = Path(settings.state_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for service in services(settings, simulate):
            # The ingest's and the worker's logs go to files, this run's only (Faust's are long); the
            # simulator's few lines of progress stay on the console.
            log = None if service.name == "simulator" else logs / f"{service.name}.log"
            where = f" (log: {log})" if log else ""
            click.echo(f"[dev] starting {service.name}: mistpipe {' '.join(service.argv)}{where}")
            with open(log, "wb") if log else contextlib.nullcontext() as out:
                procs[service.name] = subprocess.Popen(
                    [sys.executable, "-m", "mistpipe.cli", *service.argv],
                    env=_env(settings),
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                )
            service_logs[service.name] = log
        click.echo(
            f"[dev] running: Kafka at {settings.kafka_bootstrap}. Ctrl-C stops everything dev started."
        )
        if simulate:
            web = f"http://127.0.0.1:{settings.web_port}"
            click.echo(
                f"[dev] a simulated site posts webhooks to the ingest (--no-simulate: none); "
                f"the live floor map: {web}/map"
            )
            click.echo(f"[dev] query it: curl -s {web}/v1/maps/{SAMPLE_MAP}")
        click.echo(f"[dev] replay the samples: {_replay_command(settings, generated)}")
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    click.echo(f"[dev] {name} exited with {proc.returncode}; stopping the rest", err=True)
                    if service_logs.get(name):
                        tail = service_logs[name].read_text(errors="replace").splitlines()[-20:]
                        click.echo("\n".join(f"[{name}] {line}" for line in tail), err=True)
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
