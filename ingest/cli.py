"""`mistpipe ingest` and `mistpipe replay` (registered on the `mistpipe` group in mistpipe.cli)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from mistpipe.options import webhook_sender, with_settings
from mistpipe.settings import Settings, load

INGEST_SETTINGS = (
    "kafka_bootstrap",
    "topic_prefix",
    "webhook_secrets",
    "accept_sha1",
    "allow_unsigned",
    "max_body_bytes",
    "body_timeout_s",
    "max_inflight",
    "produce_timeout_s",
)


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface)"
)
@click.option(
    "--port", type=int, default=None, help="Port to listen on [default: MISTPIPE_INGEST_PORT, 8080]"
)
@with_settings(*INGEST_SETTINGS)
def ingest(settings: Settings, host: str, port: int | None) -> None:
    """Receive Mist webhooks on POST /webhooks/mist and write each body, verbatim, to its Kafka topic."""
    from ingest.server import NO_SECRET, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.webhook_secrets and not settings.allow_unsigned:
        click.echo(f"mistpipe ingest: {NO_SECRET}", err=True)
        sys.exit(2)
    asyncio.run(serve(settings, host, settings.ingest_port if port is None else port))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@webhook_sender
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Bodies per second at most"
)
@click.option(
    "--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Send everything N times"
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Requests at once (1 keeps order)",
)
def replay(
    paths: tuple[Path, ...],
    url: str | None,
    secret: str | None,
    rate: float | None,
    repeat: int,
    concurrency: int,
    retries: int,
) -> None:
    """Post webhook bodies from JSON files, folders of them, or JSON-lines recordings (one body a line),
    signed as Mist signs them. Exits 1 unless every body was finally accepted (200)."""
    from ingest.replay import load_bodies
    from ingest.replay import replay as run_replay
    from ingest.server import WEBHOOK_PATH

    settings = load()
    url = url or f"http://127.0.0.1:{settings.ingest_port}{WEBHOOK_PATH}"
    if secret is None and settings.webhook_secrets:
        secret = settings.webhook_secrets[0].get_secret_value()
    if not secret:
        click.echo(
            "no secret: sending unsigned bodies (accepted only by an ingest that allows them)", err=True
        )
    bodies = load_bodies(paths)
    if not bodies:
        raise click.UsageError("no webhook bodies found in the given paths")
    with click.progressbar(length=len(bodies) * repeat, label="replaying", file=sys.stderr) as bar:
        answers = asyncio.run(
            run_replay(url, bodies, secret, rate, repeat, concurrency, retries, lambda _: bar.update(1))
        )
    total = sum(answers.values())
    click.echo(f"{total} bodies posted to {url}: {answers.get('200', 0)} accepted")
    for answer, count in sorted(answers.items()):
        click.echo(f"  {answer}: {count}")
    if answers.get("200", 0) != total:
        sys.exit(1)
