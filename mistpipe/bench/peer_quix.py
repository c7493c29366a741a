"""The Quix Streams peer of `mistpipe bench pipeline`: the pipeline's core work written with Quix Streams
3.28 as a user of it would, over the same preloaded raw topics.

It runs in a virtualenv of its own (mistpipe.bench.quix makes it: Quix 3.28 pins a confluent-kafka older
than the project's), so it imports nothing from the project: the standard library, quixstreams, orjson.

Each raw record is a webhook body `{"topic": ..., "events": [...]}` keyed by the JSON-encoded site id. One
StreamingDataFrame per raw topic (location, discovered-raw-rssi, zone) splits the bodies into events
(`.apply(expand=True)`), re-keys them by entity (`group_by`: a repartition topic) and aggregates them in
Quix's default state: RocksDB, changelogged to Kafka, at-least-once:

- last location per client (`mac`, else `id`): the newest event by `timestamp`;
- zone occupancy per `zone_id`: the members inside (`mac`, else `id`, else `asset_id`), from `trigger`
  enter/exit, one state key per member and a count;
- RSSI per beacon `mac` x reporting AP (the last dash-separated part of `device_id`): 60 s tumbling windows
  in event time (`timestamp`), count/sum/min/max of `rssi`.

It counts events twice, each in a stateless step every event passes once: at the split, and after the
re-keying, just before the event's aggregation. It stops (`app.stop()`) once the second count reaches
`--events`, i.e. every event was re-keyed and aggregated; Quix then commits its last checkpoint and closes.
Prints one JSON line: {"events", "seconds", "cpu_s", ...}.

Where the time ends: Quix keeps a checkpoint's state updates in memory and, at its commit (every 5 s, and
once more on stop), produces them to the changelogs, flushes the producer, commits the offsets and writes
RocksDB. A run of a few seconds does nearly all of that in the last commit, so `seconds` and `cpu_s` run
from the first body processed to the end of that last checkpoint (when Quix logs it; else to `app.run()`
returning): the events aggregated and their state durable, as the worker's figure has its changelog
writes in. `processed_seconds` ends at the last event aggregated (state in memory only), `closed_seconds`
when `app.run()` returned (consumer and stores closed too).

A watchdog thread ends a run that stalls (nothing processed for `--idle-timeout` seconds, or longer than
`--deadline` in all) with `app.stop()`, and, should Quix's shutdown itself hang, exits the process.

    python peer_quix.py --bootstrap HOST:PORT --topics a,b,c --events N --state-dir DIR --group GROUP
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from quixstreams import Application
    from quixstreams.state import State

KINDS = ("discovered-raw-rssi", "location", "zone")  # what a raw topic's name ends with
WINDOW_MS = 60_000
# Timestamps within a body are up to 5 s apart (and bodies interleave): a grace period keeps such events
# in their window instead of dropping them as late.
GRACE_MS = 10_000


class Progress:
    """Counts and clocks, shared by the steps (one thread: Quix processes records in its main loop) and
    read by the watchdog."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.split = 0  # events out of the split
        self.done = 0  # events re-keyed and handed to their aggregation
        self.bodies = 0
        self.started = 0.0  # perf_counter at the first body
        self.cpu_started = 0.0
        self.split_at = 0.0  # perf_counter when the split had produced every event
        self.cpu_split = 0.0
        self.done_at_split = 0  # events aggregated by then (the re-keyed ones are consumed meanwhile)
        self.ended = 0.0  # perf_counter at the last event aggregated
        self.cpu_ended = 0.0
        self.committed = 0.0  # perf_counter when the last checkpoint (after the stop) was committed
        self.cpu_committed = 0.0
        self.touched = time.monotonic()  # last progress, for the watchdog
        self.stopped_by = ""
        self.printed = threading.Lock()


class CheckpointClock(logging.Handler):
    """Notes when Quix committed the checkpoint forced by the stop: Quix logs each commit at DEBUG
    ("Committed a checkpoint; forced=True, ...") from quixstreams.processing.context, whose level alone
    is lowered (a line every 5 s; Quix's own handler still shows INFO and up)."""

    LOGGER = "quixstreams.processing.context"

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        progress = self.progress
        last = progress.ended and not progress.committed
        if last and record.getMessage().startswith("Committed a checkpoint; forced=True"):
            progress.committed = time.perf_counter()
            progress.cpu_committed = time.process_time()

    def install(self) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)


def kind_of(topic: str) -> str:
    for kind in KINDS:
        if topic.endswith(kind):
            return kind
    raise SystemExit(
        f"peer_quix: cannot tell the Mist topic of raw topic {topic!r} (ends with none of {KINDS})"
    )


def member_of(event: dict) -> str | None:
    return event.get("mac") or event.get("id") or event.get("asset_id")


def build(app: Application, topics: list[str], progress: Progress) -> None:
    from quixstreams.dataframe.windows import Count, Max, Min, Sum

    def split(body: dict) -> list:
        if not progress.bodies:
            progress.started = time.perf_counter()
            progress.cpu_started = time.process_time()
        progress.bodies += 1
        progress.touched = time.monotonic()
        return body.get("events") or []

    def counted(_event: dict) -> None:
        progress.split += 1
        if progress.split == progress.target:
            progress.split_at = time.perf_counter()
            progress.cpu_split = time.process_time()
            progress.done_at_split = progress.done

    def aggregated(_event: dict) -> None:
        progress.done += 1
        progress.touched = time.monotonic()
        if progress.done >= progress.target and not progress.ended:
            progress.ended = time.perf_counter()
            progress.cpu_ended = time.process_time()
            progress.stopped_by = progress.stopped_by or "events"
            app.stop()  # the main loop finishes this record, then commits and closes

    def last_location(event: dict, state: State) -> None:
        last = state.get("last")
        ts = event.get("timestamp") or 0
        if last is None or ts >= last["timestamp"]:
            state.set(
                "last",
                {
                    "x": event.get("x"),
                    "y": event.get("y"),
                    "map_id": event.get("map_id"),
                    "site_id": event.get("site_id"),
                    "timestamp": ts,
                },
            )

    def occupancy(event: dict, state: State) -> None:
        member = member_of(event)
        if member is None:
            return
        key = "member:" + member
        inside = state.exists(key)
        trigger = event.get("trigger")
        if trigger == "enter" and not inside:
            state.set(key, event.get("timestamp"))
            state.set("count", state.get("count", 0) + 1)
        elif trigger == "exit" and inside:
            state.delete(key)
            state.set("count", state.get("count", 0) - 1)

    def keep(predicate: Callable[[dict], bool]) -> Callable[[dict], bool]:
        """A filter that counts what it drops as done (nothing to aggregate), so the run still ends."""

        def check(event: dict) -> bool:
            if predicate(event):
                return True
            aggregated(event)
            return False

        return check

    def ap_of(event: dict) -> str:
        return (event.get("device_id") or "").rsplit("-", 1)[-1]

    for name in topics:
        kind = kind_of(name)
        raw = app.topic(name, value_deserializer="json", key_deserializer="json")
        events = app.dataframe(raw).apply(split, expand=True).update(counted)
        if kind == "location":
            events = events.filter(keep(lambda e: bool(e.get("mac") or e.get("id"))))
            by_client = events.group_by(lambda e: e.get("mac") or e.get("id"), name="client")
            by_client.update(aggregated).update(last_location, stateful=True)
        elif kind == "zone":
            events = events.filter(keep(lambda e: bool(e.get("zone_id"))))
            by_zone = events.group_by("zone_id")
            by_zone.update(aggregated).update(occupancy, stateful=True)
        else:
            # Event time for the windows: the record timestamp of each event, in ms.
            events = events.filter(keep(lambda e: bool(e.get("mac")) and e.get("rssi") is not None))
            events = events.set_timestamp(
                lambda e, _key, ts, _headers: int(e.get("timestamp", ts / 1000) * 1000)
            )
            by_beacon_ap = events.group_by(lambda e: f"{e['mac']}|{ap_of(e)}", name="beacon-ap")
            # `.final()`: one result per window when it closes, what a dashboard or sink downstream takes,
            # rather than `.current()`'s result per event; nothing is produced from it here.
            (
                by_beacon_ap.update(aggregated)
                .tumbling_window(WINDOW_MS, grace_ms=GRACE_MS)
                .agg(count=Count(), sum=Sum("rssi"), min=Min("rssi"), max=Max("rssi"))
                .final()
            )


def result(progress: Progress, closed_at: float | None, cpu_closed: float | None) -> dict:
    """The JSON line; `closed_at` (perf_counter) and `cpu_closed` when app.run() returned, else None."""
    if not progress.started:
        return {"events": 0, "seconds": 0.0, "cpu_s": 0.0, "bodies": 0, "stopped_by": progress.stopped_by}

    def since(t: float | None) -> float | None:
        return round(t - progress.started, 3) if t else None

    if progress.committed:
        end, cpu_end, end_mark = progress.committed, progress.cpu_committed, "last checkpoint committed"
    elif closed_at is not None:
        end, cpu_end, end_mark = closed_at, cpu_closed, "app.run() returned"
    else:
        end, cpu_end, end_mark = time.perf_counter(), time.process_time(), "watchdog exit"
    return {
        "events": progress.done,
        "seconds": round(end - progress.started, 3),
        "cpu_s": round(cpu_end - progress.cpu_started, 3),
        "end": end_mark,
        "processed_seconds": since(progress.ended),
        "processed_cpu_s": round(progress.cpu_ended - progress.cpu_started, 3) if progress.ended else None,
        "closed_seconds": since(closed_at),
        "bodies": progress.bodies,
        "split_events": progress.split,
        "split_seconds": since(progress.split_at),
        "split_cpu_s": round(progress.cpu_split - progress.cpu_started, 3) if progress.split_at else None,
        "aggregated_at_split": progress.done_at_split,
        "stopped_by": progress.stopped_by,
        "quixstreams": _version(),
    }


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("quixstreams")
    except Exception:
        return "?"


def emit(progress: Progress, closed_at: float | None = None, cpu_closed: float | None = None) -> bool:
    """Print the one JSON line (once, whoever comes first); True if this call printed it."""
    if not progress.printed.acquire(blocking=False):
        return False
    sys.stdout.write(json.dumps(result(progress, closed_at, cpu_closed)) + "\n")
    sys.stdout.flush()
    return True


def watchdog(app: Application, progress: Progress, idle: float, deadline: float, shutdown: float) -> None:
    """Stop a stalled run; exit the process if Quix does not close within `shutdown` s of a stop."""
    begun = time.monotonic()
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        if progress.stopped_by:
            break
        if now - progress.touched > idle:
            progress.stopped_by = f"idle {idle:.0f}s"
        elif now - begun > deadline:
            progress.stopped_by = f"deadline {deadline:.0f}s"
        else:
            continue
        print(
            f"peer_quix: stopping: {progress.stopped_by}, {progress.done}/{progress.target} events",
            file=sys.stderr,
        )
        app.stop()
        break
    stop_seen = time.monotonic()
    while time.monotonic() - stop_seen < shutdown:
        time.sleep(0.5)
    print(f"peer_quix: Quix did not close within {shutdown:.0f}s of the stop; exiting", file=sys.stderr)
    if emit(progress):
        sys.stderr.flush()
        os._exit(0 if progress.done >= progress.target else 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peer_quix.py")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated raw topics")
    parser.add_argument("--events", type=int, required=True, help="events the raw topics hold in all")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--group", required=True, help="a fresh consumer group")
    parser.add_argument(
        "--idle-timeout", type=float, default=180, help="stop when nothing moves this long (s)"
    )
    parser.add_argument("--deadline", type=float, default=1700, help="stop after this long in all (s)")
    parser.add_argument(
        "--shutdown-timeout", type=float, default=120, help="exit if closing takes longer (s)"
    )
    args = parser.parse_args(argv)

    from quixstreams import Application

    progress = Progress(args.events)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="INFO",  # on stderr: startup, topics created, rebalances, the last checkpoint
        # Defaults otherwise: at-least-once, commit every 5 s, RocksDB state with changelog topics.
    )
    build(app, args.topics.split(","), progress)
    CheckpointClock(progress).install()
    threading.Thread(
        target=watchdog,
        args=(app, progress, args.idle_timeout, args.deadline, args.shutdown_timeout),
        daemon=True,
        name="peer-watchdog",
    ).start()
    progress.touched = time.monotonic()
    app.run()
    closed_at, cpu_closed = time.perf_counter(), time.process_time()
    if not progress.stopped_by:
        progress.stopped_by = "quix"  # stopped by a signal
    emit(progress, closed_at, cpu_closed)
    return 0 if progress.done >= progress.target else 1


if __name__ == "__main__":
    sys.exit(main())
