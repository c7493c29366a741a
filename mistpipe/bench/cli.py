"""`mistpipe bench ingest|pipeline|e2e|faults` (registered on the `mistpipe` group in mistpipe.cli)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import click

from mistpipe.settings import load


def _common(command: Callable) -> Callable:
    command = click.option(
        "--json", "as_json", is_flag=True, help="Print the figures as one JSON object, on the last line"
    )(command)
    command = click.option(
        "--partitions", type=click.IntRange(min=1), default=8, show_default=True, help="Partitions per topic"
    )(command)
    command = click.option(
        "--env",
        "worker_env",
        multiple=True,
        metavar="NAME=VALUE",
        help="Extra environment of the mistpipe services started (e.g. a Faust setting: "
        "PRODUCER_LINGER=0.005); repeatable",
    )(command)
    command = click.option(
        "--profile",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Sample the service under load with py-spy; collapsed stacks and top functions into this dir",
    )(command)
    return click.option(
        "--bootstrap",
        default=None,
        help="Use this Kafka broker instead of starting one (topics are made under a unique prefix and "
        "deleted after)",
    )(command)


def _finish(report: list[str], figures: dict, as_json: bool) -> None:
    from mistpipe.bench.common import machine

    m = machine()
    click.echo(f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, load average {m['load']}")
    for line in report:
        click.echo(line)
    if as_json:
        click.echo(json.dumps(figures))
    else:
        for key, value in figures.items():
            click.echo(f"{key}: {value}")


def _guarded(run: Callable[..., dict]) -> Callable[..., dict]:
    """A failed run (a service that did not start, a worker that did not finish) as a clean error."""

    def call(**kwargs: object) -> dict:
        try:
            return run(**kwargs)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc

    return call


def _env(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--env")
        found[name] = value
    return found


@click.group()
def bench() -> None:
    """Benchmarks: each starts what it measures (a local Kafka broker, the ingest, a worker) and reports
    its figures against a ceiling measured in the same run (see BENCHMARKS.md)."""
    # aiokafka retries a produce to a partition whose leader is still being elected (fresh topics) with a
    # warning each time: noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


@bench.command("ingest")
@click.option("--seconds", type=click.FloatRange(min=1), default=10, show_default=True, help="Per phase")
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Alternating rounds of ceiling and ingest; the best of each counts",
)
@click.option(
    "--connections", type=click.IntRange(min=1), default=32, show_default=True, help="wrk connections"
)
@_common
def bench_ingest(
    seconds: float,
    rounds: int,
    connections: int,
    bootstrap: str | None,
    partitions: int,
    as_json: bool,
    profile: Path | None,
    worker_env: tuple[str, ...],
) -> None:
    """The ingest against the HTTP ceiling and the bare producers (confluent-kafka, aiokafka); latency
    at half the maximum rate."""
    from mistpipe.bench import ingest

    report: list[str] = []
    figures = _guarded(ingest.run)(
        seconds=seconds,
        rounds=rounds,
        connections=connections,
        partitions=partitions,
        bootstrap=bootstrap,
        state_dir=load().state_dir,
        report=report,
        profile=profile,
        extra_env=_env(worker_env),
    )
    _finish(report, figures, as_json)


@bench.command("pipeline")
@click.option(
    "--events", type=click.IntRange(min=100), default=200_000, show_default=True, help="Events preloaded"
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Workers sharing the partitions",
)
@_common
def bench_pipeline(
    events: int,
    workers: int,
    bootstrap: str | None,
    partitions: int,
    as_json: bool,
    profile: Path | None,
    worker_env: tuple[str, ...],
) -> None:
    """A worker from empty state through N preloaded events (50 % location, 40 % RSSI, 10 % zone) until
    each is enriched and aggregated, against a bare aiokafka consume-parse-produce loop; peak RSS."""
    from mistpipe.bench import pipeline

    report: list[str] = []
    figures = _guarded(pipeline.run)(
        events=events,
        workers=workers,
        partitions=partitions,
        bootstrap=bootstrap,
        state_dir=load().state_dir,
        report=report,
        profile=profile,
        extra_env=_env(worker_env),
    )
    _finish(report, figures, as_json)


@bench.command("e2e")
@click.option(
    "--rate", type=click.FloatRange(min=10), default=2000, show_default=True, help="Events offered per second"
)
@click.option("--seconds", type=click.FloatRange(min=1), default=30, show_default=True, help="Duration")
@click.option(
    "--warmup",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds of the load before the probes  [default: 30 on a broker of its own, 3 with --bootstrap]",
)
@_common
def bench_e2e(
    rate: float,
    seconds: float,
    warmup: float | None,
    bootstrap: str | None,
    partitions: int,
    as_json: bool,
    profile: Path | None,
    worker_env: tuple[str, ...],
) -> None:
    """A steady load through ingest and worker: the time from POST to the location being visible in the
    query API."""
    from mistpipe.bench import e2e

    report: list[str] = []
    figures = _guarded(e2e.run)(
        rate=rate,
        seconds=seconds,
        warmup=warmup,
        partitions=partitions,
        bootstrap=bootstrap,
        state_dir=load().state_dir,
        report=report,
        profile=profile,
        extra_env=_env(worker_env),
    )
    _finish(report, figures, as_json)


@bench.command("faults")
@click.option("--kills", type=click.IntRange(min=1), default=30, show_default=True, help="Workers SIGKILLed")
@click.option(
    "--events", type=click.IntRange(min=100, max=19_000), default=15_000, show_default=True, help="Workload"
)
@click.option("--seed", type=int, default=7, show_default=True, help="Of the workload and the kill moments")
@click.option("--bootstrap", default=None, help="Use this Kafka broker instead of starting one")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the figures as one JSON object, on the last line"
)
def bench_faults(kills: int, events: int, seed: int, bootstrap: str | None, as_json: bool) -> None:
    """Workers SIGKILLed under load (before a first commit, mid-commit, mid-rebalance, at random), then
    every aggregate compared with the model's answers; exits 1 on any difference or lost event."""
    from mistpipe.bench import faults

    report: list[str] = []
    figures = _guarded(faults.run)(
        kills=kills, events=events, bootstrap=bootstrap, state_dir=load().state_dir, report=report, seed=seed
    )
    _finish(report, figures, as_json)
    if figures["differences"] or figures["events_lost"]:
        raise SystemExit(1)
