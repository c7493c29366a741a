"""Send a simulated site's events as Mist does: batched per topic, signed, POSTed to a webhook URL.

Events wait in one batch per topic, and a batch is sent 1-5 s (event time) after its first event, or at
once when it holds `max_batch` events: several events per POST, each within ~5 s, as Mist batches them.
Bodies are POSTed one at a time, in the order they were made, signed with the webhook secret
(`X-Mist-Signature-v2`, `X-Mist-Signature`), retried on 503 and connection errors.

The clock: event time starts at `start` and runs `rate` times as fast as the wall clock (rate 1: real time,
what `mistpipe dev` uses; rate 0: no waiting at all). With `out`, every body sent is written, verbatim, to
`out/sent.jsonl` (one a line: `mistpipe replay` takes it), and `out/summary.json` says what was sent, which
bodies were not accepted, and what the aggregates should hold (mistpipe.simulator.expected).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from ingest.replay import post
from mistpipe.simulator.expected import Expected
from mistpipe.simulator.world import World

FLUSH_S = (1.0, 5.0)  # a batch goes out this long (event time) after its first event
MAX_BATCH = 100


@dataclass
class Batch:
    flush_at: float
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    """What a run sent and how the receiver answered."""

    bodies: int = 0
    events: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)  # {line, topic, answer}
    start: float = 0.0
    end: float = 0.0  # event time reached

    @property
    def accepted(self) -> int:
        return self.answers.get("200", 0)


def batches_of(
    world: World, until: float, seed: int = 1, max_batch: int = MAX_BATCH
) -> list[tuple[float, bytes]]:
    """(event time sent, body) of every body of a run up to `until`, without sending: what `simulate`
    would POST. For tests and tools."""
    out: list[tuple[float, bytes]] = []
    batcher = Batcher(seed, max_batch, lambda t, body: out.append((t, body)))
    while True:
        t_world, t_flush = world.next_due(), batcher.next_flush()
        t = min(t_world, t_flush)
        if t > until:
            break
        if t_flush <= t_world:
            batcher.flush_due(t)
        else:
            batcher.add(t_world, world.step())
    batcher.flush_all(until)
    return out


class Batcher:
    """One batch per topic; `emit(t, body)` receives each body when it is due."""

    def __init__(self, seed: int, max_batch: int, emit: Callable[[float, bytes], None]) -> None:
        self.rng = random.Random(f"batches-{seed}")  # apart from the world's, so batching never moves it
        self.max_batch = max_batch
        self.emit = emit
        self.batches: dict[str, Batch] = {}

    def next_flush(self) -> float:
        return min((b.flush_at for b in self.batches.values()), default=float("inf"))

    def add(self, t: float, events: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, event in events:
            batch = self.batches.get(topic)
            if batch is None:
                batch = self.batches[topic] = Batch(t + self.rng.uniform(*FLUSH_S))
            batch.events.append(event)
            if len(batch.events) >= self.max_batch:
                self._flush(t, topic)

    def _flush(self, t: float, topic: str) -> None:
        batch = self.batches.pop(topic)
        self.emit(t, orjson.dumps({"topic": topic, "events": batch.events}))

    def flush_due(self, t: float) -> None:
        for topic in sorted(self.batches, key=lambda name: (self.batches[name].flush_at, name)):
            if self.batches[topic].flush_at <= t:
                self._flush(t, topic)

    def flush_all(self, t: float) -> None:
        for topic in sorted(self.batches, key=lambda name: (self.batches[name].flush_at, name)):
            self._flush(t, topic)


async def simulate(
    world: World,
    url: str,
    secret: str | None,
    *,
    rate: float = 1.0,
    seconds: float | None = None,
    seed: int = 1,
    out: Path | None = None,
    retries: int = 5,
    max_batch: int = MAX_BATCH,
    stop: asyncio.Event | None = None,
    progress: Callable[[Report], None] | None = None,
    progress_every_s: float = 60.0,
) -> Report:
    """Run `world` from its start for `seconds` of event time (None: until `stop` is set), sending every
    body to `url`. Returns what was sent and how it was answered."""
    stop = stop or asyncio.Event()
    report = Report(start=world.start, end=world.start)
    end = world.start + seconds if seconds is not None else float("inf")
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    expected = Expected() if out is not None else None
    log = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        log = (out / "sent.jsonl").open("wb")

    def emit(_: float, body: bytes) -> None:
        queue.put_nowait(body)

    batcher = Batcher(seed, max_batch, emit)
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    timeout = aiohttp.ClientTimeout(total=30)

    async def sender(session: aiohttp.ClientSession) -> None:
        line = 0
        while (body := await queue.get()) is not None:
            data = orjson.loads(body)
            # Once stopping, the receiver may be going too: one try each, no backoff.
            answer = await post(session, url, body, secret, 0 if stop.is_set() else retries)
            report.bodies += 1
            report.answers[answer] = report.answers.get(answer, 0) + 1
            report.events[data["topic"]] = report.events.get(data["topic"], 0) + len(data["events"])
            if log is not None:
                log.write(body + b"\n")
            if answer == "200":
                if expected is not None:
                    expected.add(data)
            else:
                report.failed.append({"line": line, "topic": data["topic"], "answer": answer})
            line += 1

    async def wait_until(t: float) -> None:
        if rate <= 0:
            await asyncio.sleep(0)  # let the sender run
            return
        delay = wall0 + (t - world.start) / rate - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    next_progress = time.monotonic() + progress_every_s
    async with aiohttp.ClientSession(headers={"User-Agent": "Mist-webhook"}, timeout=timeout) as session:
        sending = asyncio.create_task(sender(session))
        try:
            while not stop.is_set():
                t_world, t_flush = world.next_due(), batcher.next_flush()
                t = min(t_world, t_flush)
                if t > end:
                    break
                await wait_until(t)
                if stop.is_set():
                    break
                report.end = t
                if t_flush <= t_world:
                    batcher.flush_due(t)
                else:
                    batcher.add(t, world.step())
                if progress is not None and time.monotonic() >= next_progress:
                    next_progress += progress_every_s
                    progress(report)
                if sending.done():  # the sender died: say why
                    sending.result()
            batcher.flush_all(report.end)
        finally:
            queue.put_nowait(None)
            await sending
            if log is not None:
                log.close()
    if out is not None:
        summary = {
            "seed": seed,
            "start": report.start,
            "end": report.end,
            "rate": rate,
            "url": url,
            "site_id": world.site_id,
            "map_id": world.map["id"],
            "zones": {z.id: z.name for z in world.zones},
            "aps": {ap.mac: ap.name for ap in world.aps},
            "beacons": [b.mac for b in world.beacons],
            "walkers": [{"kind": w.kind, "id": w.id, "mac": w.mac, "name": w.name} for w in world.walkers],
            "bodies": report.bodies,
            "events": dict(sorted(report.events.items())),
            "answers": report.answers,
            "failed": report.failed,
            "expected": expected.summary() if expected is not None else None,
        }
        (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    return report
