"""Records to Kafka through the Faust app's own producer, without Faust's per-record machinery.

Faust's `Topic.send` and a table's `send_changelog` wrap every record in a FutureMessage and take it through
a stampede-guarded producer start, sensors and callbacks (changelog records through a queue besides): a
one-agent Faust app that only re-sends events ran at ~5,500 events/s here, and at ~19,000 with the same
records handed straight to its producer (BENCHMARKS.md). The worker sends several records per event.

The guarantee stays Faust's: before it commits offsets, Faust flushes its producer. `Sink.send` hands a
record to that producer at once. Changelog records, written from synchronous code, go through queues (so
each table's records keep their order, tombstones included): a task hands them over as soon as the agent
yields, and the producer's flush drains them first (`Sink.install`), so a commit never passes a record sent
while processing the events it commits.

Between a kill and the next commit, order matters too. The dedupe table's marks ("this event was
published") go out only once everything handed over before them is acked: the enriched records and the
other tables' changelog records. Handed over together, a mark could reach Kafka in an earlier request than
the record it vouches for (the producer sends one batch per partition per request), and a worker killed in
between would come back sure it had published an event whose record, or whose count, was lost.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from faust.types import TP

from topics.serde import dumps, encode_key

log = logging.getLogger(__name__)


class Sink:
    def __init__(self, app: Any, on_failed: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.on_failed = on_failed
        self._producer: Any = None
        self._queue: collections.deque = collections.deque()  # table changelog records
        self._marks: collections.deque = collections.deque()  # changelog records sent once the rest is acked
        self._flush: Callable[[], Any] | None = None  # Faust's own flush of its producer
        self._lock = asyncio.Lock()  # one drain at a time: records leave in the order they were queued
        self._draining: asyncio.Future | None = None
        self._persisted: dict[tuple[str, int], int] = {}  # (changelog, partition) -> newest acked offset
        self._tables: dict[str, Any] = {}  # changelog topic -> its table

    def install(self) -> None:
        """Make Faust's producer flush (before every commit, on rebalance and at shutdown) drain the
        changelog queue first, and record the changelog offsets acked (what Faust's own callback did)."""
        producer = self.app.producer
        flush = self._flush = producer.flush

        async def flush_all() -> None:
            await self.drain()
            await flush()
            self._persist()

        producer.flush = flush_all

    async def _start(self) -> Any:
        self._producer = await self.app.maybe_start_producer()
        return self._producer

    async def send(
        self,
        topic: str,
        key: str | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Hand one record (key as JSON, like the tables' keys) to the producer; awaits only the hand-over."""
        producer = self._producer or await self._start()
        sent = await producer.send(topic, encode_key(key), value, partition, timestamp, None)
        sent.add_done_callback(partial(self._sent, topic, False))

    def changelog(self, table: Any, *, after_acks: bool = False) -> None:
        """Route `table.send_changelog` (the table's writes and tombstones) through this sink; with
        `after_acks`, each record goes out only once every record handed over before it is acked."""
        topic = table.changelog_topic.get_topic_name()
        queue = self._marks if after_acks else self._queue
        self._tables[topic] = table

        def send_changelog(
            partition: int, key: Any, value: Any, key_serializer: Any = None, value_serializer: Any = None
        ) -> None:
            data = value if value is None or value_serializer == "raw" else dumps(value)
            queue.append((topic, encode_key(key), data, partition))
            if self._draining is None:
                self._draining = asyncio.ensure_future(self._drain_soon())

        table.send_changelog = send_changelog

    async def _drain_soon(self) -> None:
        """One round at a time, releasing the lock in between: a flush waiting for it (a commit) gets it
        next, whatever the agents keep queueing."""
        try:
            await self.drain()
        except Exception as exc:  # the producer stopped under us (shutdown): Faust's own flush says the rest
            log.warning("changelog records not handed over: %r", exc)
            return
        finally:
            self._draining = None
        if self._queue or self._marks:
            self._draining = asyncio.ensure_future(self._drain_soon())

    async def drain(self) -> None:
        """Hand the queued changelog records to the producer, in order; the marks after the acks of all
        that went before them."""
        async with self._lock:
            # What is queued now: a mark queued later may vouch for records queued after this count.
            records, marks = len(self._queue), len(self._marks)
            await self._hand_over(self._queue, records)
            if marks:
                await self._flush()
                await self._hand_over(self._marks, marks)

    async def _hand_over(self, queue: collections.deque, count: int) -> None:
        producer = self._producer or await self._start()
        for _ in range(count):
            topic, key, value, partition = queue.popleft()
            sent = await producer.send(topic, key, value, partition, None, None)
            sent.add_done_callback(partial(self._sent, topic, True))

    def _sent(self, topic: str, changelog: bool, sent: asyncio.Future) -> None:
        if sent.cancelled() or sent.exception() is not None:
            reason = "cancelled" if sent.cancelled() else repr(sent.exception())
            log.error("a record for %s was not delivered: %s", topic, reason)
            if self.on_failed is not None:
                self.on_failed(topic)
            return
        if changelog:
            meta = sent.result()
            slot = (topic, meta.partition)
            if meta.offset > self._persisted.get(slot, -1):
                self._persisted[slot] = meta.offset

    def _persist(self) -> None:
        """The newest acked changelog offset of each partition into its store, as Faust does per record:
        on recovery the table reads its changelog from there. Later than Faust only means more to read."""
        persisted, self._persisted = self._persisted, {}
        for (topic, partition), offset in persisted.items():
            self._tables[topic].data.set_persisted_offset(TP(topic, partition), offset)
