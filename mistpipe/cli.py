"""The `mistpipe` command. Every setting is an env var `MISTPIPE_*` and a flag of the commands using it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from ingest import cli as ingest_cli
from mistpipe import __version__
from mistpipe.bench.cli import bench
from mistpipe.options import ALL_SETTINGS, with_settings
from mistpipe.settings import Settings
from mistpipe.simulator.cli import simulate
from pipeline import cli as pipeline_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="mistpipe")
def main() -> None:
    """mistpipe: Juniper Mist webhooks into Kafka, parsed, enriched and aggregated by Faust."""


# -- kafka: the local broker -----------------------------------------------------------------------------


def _broker(settings: Settings, port: int, controller_port: int):
    from mistpipe.localkafka import LocalBroker

    return LocalBroker(settings.state_dir, port=port, controller_port=controller_port)


def _broker_options(command: Callable) -> Callable:
    command = click.option(
        "--controller-port", default=9093, show_default=True, help="KRaft controller port (loopback)"
    )(command)
    return click.option("--port", default=9092, show_default=True, help="Broker port (loopback)")(command)


@main.group()
def kafka() -> None:
    """A local Apache Kafka broker (KRaft, one node) for development and tests; no Docker needed."""


@kafka.command("start")
@_broker_options
@with_settings("state_dir")
def kafka_start(settings: Settings, port: int, controller_port: int) -> None:
    """Fetch the pinned Kafka jars (once), format the data dir (once) and start the broker."""
    from mistpipe.localkafka import BrokerError

    broker = _broker(settings, port, controller_port)
    was_running = broker.status().running
    try:
        bootstrap = broker.start()
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Kafka {broker.version} {'already running' if was_running else 'started'} (log: {broker.log})"
    )
    click.echo(bootstrap)


@kafka.command("stop")
@_broker_options
@with_settings("state_dir")
def kafka_stop(settings: Settings, port: int, controller_port: int) -> None:
    """Stop the local broker cleanly."""
    broker = _broker(settings, port, controller_port)
    click.echo("stopped" if broker.stop() else "not running")


@kafka.command("status")
@_broker_options
@with_settings("state_dir")
def kafka_status(settings: Settings, port: int, controller_port: int) -> None:
    """Say whether the local broker runs; exit 1 when it does not."""
    status = _broker(settings, port, controller_port).status()
    if status.running:
        click.echo(f"running pid={status.pid} bootstrap={status.bootstrap} log={status.log}")
    else:
        click.echo(f"not running (bootstrap would be {status.bootstrap})")
        sys.exit(1)


# -- topics --------------------------------------------------------------------------------------------


@main.group("topics")
def topics_group() -> None:
    """The Kafka topics of the contract."""


def create_topics(settings: Settings) -> None:
    from mistpipe.admin import ensure_topics, raw_topic_configs
    from topics.names import all_topics

    report = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            all_topics(settings.topic_prefix),
            settings.partitions,
            configs=raw_topic_configs(settings.topic_prefix, settings.max_body_bytes),
        )
    )
    click.echo(
        f"{len(report.created)} created, {len(report.existing)} already there "
        f"({settings.partitions} partitions, bootstrap {settings.kafka_bootstrap})"
    )
    for name in report.created:
        click.echo(f"  + {name}")
    if not report.ok:
        for name, problem in report.mismatched.items():
            click.echo(f"  ! {name}: {problem}", err=True)
        raise click.ClickException(
            "existing topics differ from the configuration; Faust needs every source topic at exactly "
            "--partitions partitions: recreate them or set MISTPIPE_PARTITIONS to match"
        )


@topics_group.command("create")
@with_settings("kafka_bootstrap", "topic_prefix", "partitions", "max_body_bytes")
def topics_create(settings: Settings) -> None:
    """Create every raw, enriched, derived, reference (compacted) and dead-letter topic. Idempotent."""
    create_topics(settings)


@topics_group.command("list")
@with_settings("kafka_bootstrap", "topic_prefix")
def topics_list(settings: Settings) -> None:
    """The contract's topics and what the broker holds of them."""
    from mistpipe.admin import list_topics
    from topics.names import all_topics

    specs = all_topics(settings.topic_prefix)
    found = asyncio.run(list_topics(settings.kafka_bootstrap, [s.name for s in specs]))
    for spec in specs:
        info = found.get(spec.name)
        state = f"{info.partitions} partitions, cleanup.policy={info.cleanup_policy}" if info else "missing"
        click.echo(f"{spec.name:40} {state}")


@main.command("schemas")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per schema under this directory (enriched/, derived/) instead of printing them.",
)
def schemas_command(out: Path | None) -> None:
    """JSON Schemas of the enriched, derived and dead-letter records, generated from topics.records."""
    from topics.records import schemas

    found = schemas()
    if out is None:
        click.echo(json.dumps(found, indent=2))
        return
    for name, schema in found.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2) + "\n")
        click.echo(str(path))


# -- dev: the one-command local run ----------------------------------------------------------------------


@main.command()
@_broker_options
@click.option(
    "--sample-reference/--no-sample-reference",
    default=True,
    show_default=True,
    help="Load the sample site, map and zone (mistpipe/samples/api) into the reference topics",
)
@click.option(
    "--simulate/--no-simulate",
    default=True,
    show_default=True,
    help="Run `mistpipe simulate`: a site on the sample map posting webhooks to the ingest in real time",
)
@with_settings(*ALL_SETTINGS)
def dev(settings: Settings, port: int, controller_port: int, sample_reference: bool, simulate: bool) -> None:
    """Run it all locally: the Kafka broker, the topics and the services. Ctrl-C stops what it started."""
    from mistpipe.dev import run_dev

    sys.exit(run_dev(settings, port, controller_port, sample_reference, simulate))


# -- the services' own commands, each kept in its package --------------------------------------------------

main.add_command(pipeline_cli.worker)
main.add_command(pipeline_cli.reference)
main.add_command(ingest_cli.ingest)
main.add_command(ingest_cli.replay)
main.add_command(simulate)
main.add_command(bench)

if __name__ == "__main__":
    main()
