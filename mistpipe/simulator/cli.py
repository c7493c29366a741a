"""`mistpipe simulate`: a synthetic Mist site posting webhooks to an ingest (registered in mistpipe.cli)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from mistpipe.options import webhook_sender
from mistpipe.settings import load
from mistpipe.simulator import DEFAULT_REFERENCE


async def _wait_for(url: str, seconds: float) -> bool:
    """Whether the URL's host accepts a TCP connection within `seconds` (the ingest may still be starting)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + seconds
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), 2)
            writer.close()
            return True
        except (OSError, TimeoutError):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.3)


@click.command()
@webhook_sender
@click.option(
    "--clients",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    help="People (1 in 3 an SDK phone)",
)
@click.option(
    "--assets", type=click.IntRange(min=0), default=4, show_default=True, help="BLE-tagged assets on the move"
)
@click.option(
    "--beacons", type=click.IntRange(min=0), default=6, show_default=True, help="Stationary BLE beacons"
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Event-time seconds per wall-clock second (1: real time; 0: as fast as it can)",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Event time to simulate [default: until Ctrl-C]",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same site, same walks")
@click.option(
    "--start",
    type=float,
    default=None,
    help="Event time of the start, epoch seconds; negative: that many seconds before now [default: now]",
)
@click.option(
    "--reference",
    "references",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Sites, maps and zones as Mist's API answers them (files or folders of *.json; repeatable) "
    "[default: the bundled sample site, plus the simulator's zones]",
)
@click.option("--map-id", default=None, help="Map to walk on [default: the first map with a ppm]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every body sent to OUT/sent.jsonl and what was sent and expected to OUT/summary.json",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the URL to listen",
)
def simulate(
    url: str | None,
    secret: str | None,
    clients: int,
    assets: int,
    beacons: int,
    rate: float,
    seconds: float | None,
    seed: int,
    start: float | None,
    references: tuple[Path, ...],
    map_id: str | None,
    out: Path | None,
    retries: int,
    wait: float,
) -> None:
    """A living Mist site: clients and assets walk on a map, beacons are heard by APs, devices come and go;
    their location, zone, RSSI, client and device events are POSTed as Mist sends webhooks (batched per
    topic, signed). Seeded: the same seed gives the same site and walks. Exits 1 unless every body was
    accepted."""
    from mistpipe.simulator.run import simulate as run_simulation
    from mistpipe.simulator.world import ReferenceMissing, World
    from pipeline.reference import ReferenceError, read_files

    settings = load()
    url = url or f"http://127.0.0.1:{settings.ingest_port}/webhooks/mist"
    if secret is None and settings.webhook_secrets:
        secret = settings.webhook_secrets[0].get_secret_value()
    if not secret:
        click.echo(
            "no secret: sending unsigned bodies (accepted only by an ingest that allows them)", err=True
        )
    files = [
        f
        for p in (references or DEFAULT_REFERENCE)
        for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])
    ]
    now = time.time()
    begin = now if start is None else (now + start if start < 0 else start)
    try:
        world = World(
            read_files(files),
            start=begin,
            seed=seed,
            clients=clients,
            assets=assets,
            beacons=beacons,
            map_id=map_id,
        )
    except (ReferenceError, ReferenceMissing) as exc:
        raise click.ClickException(str(exc)) from exc
    sdk = sum(w.kind == "sdk" for w in world.walkers)
    when = datetime.fromtimestamp(begin, UTC).isoformat(timespec="seconds")
    click.echo(
        f"simulating {world.site_name} / {world.map.get('name')}: {clients} clients ({sdk} with the SDK), "
        f"{assets} assets, {beacons} beacons, {len(world.aps)} APs, {len(world.zones)} zones; seed {seed}; "
        f"event time from {when} at {rate:g}x{'' if seconds is None else f' for {seconds:g} s'} -> {url}"
    )

    def progress(report) -> None:
        minutes = (report.end - report.start) / 60
        click.echo(
            f"[simulate] {minutes:.0f} min of event time: {report.bodies} bodies, "
            f"{sum(report.events.values())} events, {report.accepted} accepted"
        )

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if wait and not await _wait_for(url, wait):
            raise click.ClickException(f"nothing listens at {url} after {wait:g} s")
        report = await run_simulation(
            world,
            url,
            secret,
            rate=rate,
            seconds=seconds,
            seed=seed,
            out=out,
            retries=retries,
            stop=stop,
            progress=progress,
        )
        return report, stop.is_set()

    report, stopped = asyncio.run(main())
    total = sum(report.events.values())
    click.echo(
        f"{report.end - report.start:.0f} s of event time: {report.bodies} bodies ({total} events) posted to "
        f"{url}: {report.accepted} accepted"
        + (f"; log in {out / 'sent.jsonl'}, summary in {out / 'summary.json'}" if out else "")
    )
    for answer, count in sorted(report.answers.items()):
        if answer != "200":
            click.echo(f"  {answer}: {count}")
    if stopped and report.failed:
        # Ctrl-C in a terminal stops the ingest at the same moment: the last batches find it gone.
        click.echo(f"  stopped: {len(report.failed)} of the last bodies found no ingest to take them")
    if report.accepted != report.bodies and not stopped:
        sys.exit(1)
