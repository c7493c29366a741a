"""CLI commands of the pipeline: `mistpipe worker`, `mistpipe reference load|sync`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from mistpipe.options import with_settings
from mistpipe.settings import Settings
from pipeline.reference import KINDS


@click.command()
@click.option(
    "--loglevel", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"])
)
@with_settings(
    "kafka_bootstrap",
    "topic_prefix",
    "partitions",
    "state_dir",
    "app_id",
    "web_port",
    "web_bind",
    "dedupe_seconds",
    "presence_seconds",
    "visit_window_seconds",
    "rssi_window_seconds",
    "retention_seconds",
    "query_token",
    "session_timeout_s",
)
def worker(settings: Settings, loglevel: str) -> None:
    """The Faust worker: parse, deduplicate and enrich every Mist event; tables and the query API."""
    from pipeline.worker import run_worker

    run_worker(settings, loglevel)


def publish_or_fail(settings: Settings, objects: dict[str, list[dict]]) -> dict[str, int]:
    """Write the objects to the reference topics; Kafka's failure as one line, not a traceback."""
    from aiokafka.errors import KafkaError

    from pipeline.reference import publish

    try:
        return asyncio.run(publish(settings.kafka_bootstrap, settings.topic_prefix, objects))
    except KafkaError as exc:
        raise click.ClickException(
            f"Kafka at {settings.kafka_bootstrap} did not take the reference data ({exc}): is the broker"
            f" running, and were the topics created (mistpipe topics create)?"
        ) from exc


@click.group()
def reference() -> None:
    """Reference data (sites, maps, zones) that enriches events: into the compacted mist.ref.* topics."""


@reference.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), help="Kind of every object (default: told by shape)")
@with_settings("kafka_bootstrap", "topic_prefix")
def reference_load(settings: Settings, paths: tuple[Path, ...], kind: str | None) -> None:
    """Write sites, maps and zones from JSON files shaped as Mist's API answers (folders: their *.json)."""
    from pipeline.reference import ReferenceError, read_files

    files = [f for p in paths for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    try:
        objects = read_files(files, kind)
    except ReferenceError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = publish_or_fail(settings, objects)
    click.echo(", ".join(f"{n} {k}" for k, n in counts.items()) + f" written to {settings.topic_prefix}ref.*")


@reference.command("sync")
@click.option("--org-id", required=True, help="Mist org id")
@click.option(
    "--token-env", default="MIST_API_TOKEN", show_default=True, help="Env var holding the API token"
)
@click.option("--base-url", default="https://api.mist.com", show_default=True, help="Mist API of your cloud")
@with_settings("kafka_bootstrap", "topic_prefix")
def reference_sync(settings: Settings, org_id: str, token_env: str, base_url: str) -> None:
    """Read an org's sites, and their maps and zones, from Mist's REST API into the reference topics."""
    from pipeline.reference import ReferenceError, fetch_org

    token = os.environ.get(token_env)
    if not token:
        raise click.UsageError(f"set the Mist API token in ${token_env} (a token is never a flag)")
    try:
        objects = asyncio.run(fetch_org(base_url, org_id, token))
    except ReferenceError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = publish_or_fail(settings, objects)
    click.echo(", ".join(f"{n} {k}" for k, n in counts.items()) + f" synced from {base_url}")
