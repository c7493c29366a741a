"""Corrections to faust-streaming 0.15's consumer that the worker's guarantees depend on.

1. After a rebalance, Faust's fetcher runs while the tables recover, and aiokafka fetches the source
   partitions too. Faust resumes the source partitions, then seeks each back to its committed offset; records
   handed over in between reach the streams (whose queues are cleared when the flow resumes: they are never
   processed) and move Faust's read offset past the committed one, so that it drops the same records when
   they come again after the seek. A fetch begun before the seek also hands over records from where the
   early fetching got to, which Faust takes for a gap (as in a compacted topic). `contiguous` keeps each
   source partition contiguous from the offset it was sought to in the current generation: a record fetched
   before that seek, or one delivered already, is dropped; a record past a jump is dropped and its partition
   sought back to the first missing offset; and Faust's read offset is kept where that order puts it.
   The seek is settled only once every partition is sought (point 2 too): a partition whose records were
   dropped in the meantime, fetched from where aiokafka was already sought, is sought there again.
2. That seek to the committed offsets skips a partition with no committed offset yet (aiokafka seeks only
   to an offset above 0): it stays where the early fetching got to, and the records before are never
   processed. `_seek_to_committed` seeks those partitions to their start, as
   `consumer_auto_offset_reset="earliest"` says (changelogs excepted: the recovery reads those).
3. Faust makes its consumer with `fetch_max_wait_ms=1500`, a constant. aiokafka keeps one fetch per broker
   in flight and leaves out of it the partitions whose records are not consumed yet: a fetch sent while
   every partition with new records still had some buffered asks only for idle ones, and the broker holds
   it 1.5 s, during which no partition of that broker is fetched. Measured under a steady 5,000 events/s
   (bench e2e): gaps of 1.0-1.3 s without a record, and a standing lag of 2 s and more that a worker with
   idle CPU never worked off. `fetching` sets the worker consumer's wait (MISTPIPE_FETCH_MAX_WAIT_MS), and
   the bytes a fetch waits for (MISTPIPE_FETCH_MIN_BYTES; aiokafka's default: 1, so that at a moderate
   rate each body came in a fetch of its own, every source partition encoded and decoded in Python).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

# A jump that a seek back does not cure this many times is real: records deleted by retention before they
# were read (the consumer resets to the earliest offset). Then it is taken, as Faust would.
MAX_SEEKS_BACK = 5


DROP = -1  # admit: the record is not to be processed


class Positions:
    """The next offset each partition's stream expects, to tell a stale record from the next one."""

    def __init__(self) -> None:
        self.next: dict[Any, int | None] = {}  # None: sought nowhere (no committed offset), from the first
        self.seeks_back: dict[tuple[Any, int], int] = {}
        self.generation: int | None = None  # the consumer generation whose seek to committed offsets is done
        self.unsettled: set[Any] = set()  # partitions with a record dropped while no seek was settled

    def sought(self, offsets: Mapping[Any, int | None]) -> None:
        """Partitions sought to `offsets` (None or negative: no committed offset, nothing to expect)."""
        for tp, offset in offsets.items():
            self.next[tp] = offset if offset is not None and offset >= 0 else None

    def settled(self, generation: int | None) -> list[tuple[Any, int]]:
        """The seek to the committed offsets of `generation`'s assignment is done: its records may come.
        Returns where to seek again the partitions whose records were dropped while it was under way: a
        record fetched after aiokafka's seek but before this was dropped all the same, and aiokafka, past
        it, would never fetch it again (the partition stalled, its records lost to the next worker)."""
        self.generation = generation
        dropped, self.unsettled = self.unsettled, set()
        return [(tp, self.next[tp]) for tp in dropped if self.next.get(tp) is not None]

    def admit(self, tp: Any, offset: int, generation: int | None) -> int | None:
        """None when the record at `offset` is the partition's next; DROP when it was fetched before this
        generation's seek, or delivered already; else the offset to seek back to, the record being past a
        jump."""
        if generation != self.generation:
            self.unsettled.add(tp)
            return DROP
        want = self.next.get(tp)
        if want is not None:
            if offset < want:
                return DROP
            if offset > want:
                tries = self.seeks_back.get((tp, want), 0)
                if tries < MAX_SEEKS_BACK:
                    self.seeks_back[(tp, want)] = tries + 1
                    return want
                log.warning("%s: offsets %d to %d are gone: going on from %d", tp, want, offset - 1, offset)
        self.next[tp] = offset + 1
        return None


def _positions(consumer: Consumer) -> Positions:
    positions = consumer.__dict__.get("_mistpipe_positions")
    if positions is None:
        positions = consumer.__dict__["_mistpipe_positions"] = Positions()
    return positions


async def contiguous(
    records: AsyncIterator[tuple[Any, Any]],
    positions: Positions,
    skip: Iterable[str],
    seek: Any,
    generation: Callable[[], int | None] = lambda: None,
    read_offsets: MutableMapping[Any, int | None] | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """`records` (tp, message) with what is not a partition's next record dropped (`Positions.admit`), its
    partition sought back (`seek(tp, offset)`) to the first missing offset after a jump. Topics in `skip`
    (compacted changelogs, whose offsets have gaps) pass as they are. Before a record passes, its Faust read
    offset (`read_offsets`) is set to the offset before it: Faust processes a record at or above it, and
    takes a jump that is let through for a gap, which it may then commit past."""
    skipped = set(skip)
    sought_back: set[Any] = set()
    async for tp, message in records:
        if tp.topic in skipped:
            yield tp, message
            continue
        if tp in sought_back:
            continue  # the rest of this fetch, past the jump too
        want = positions.next.get(tp)
        back_to = positions.admit(tp, message.offset, generation())
        if back_to is None:
            if read_offsets is not None and want is not None:
                read_offsets[tp] = want - 1 if want > 0 else None
            yield tp, message
            continue
        if back_to == DROP:
            continue
        log.warning(
            "%s: fetched offset %d where %d is next (a fetch from before a seek): seeking back to %d",
            tp,
            message.offset,
            back_to,
            back_to,
        )
        sought_back.add(tp)
        await seek(tp, back_to)


_faust_getmany = Consumer.getmany
_faust_seek = Consumer.seek
_faust_seek_to_committed = ThreadDelegateConsumer.seek_to_committed


async def _getmany(self: Consumer, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    app = self.app
    async for tp, message in contiguous(
        _faust_getmany(self, timeout),
        _positions(self),
        app.tables.changelog_topics,
        self._seek,
        lambda: app.consumer_generation_id,
        self._read_offset,
    ):
        yield tp, message


async def _seek(self: Consumer, partition: Any, offset: int) -> None:
    await _faust_seek(self, partition, offset)
    _positions(self).sought({partition: offset})


async def _seek_to_committed(self: ThreadDelegateConsumer) -> Mapping[Any, int]:
    generation = self.app.consumer_generation_id  # the assignment these offsets are of
    positions = _positions(self)
    offsets = await _faust_seek_to_committed(self)
    positions.sought(offsets)
    if self.app.conf.consumer_auto_offset_reset == "earliest":
        changelogs = self.app.tables.changelog_topics
        for tp in never_committed(offsets, changelogs):
            # Consumer.seek (patched above): Faust's read offset reset too, and the position expected.
            await self.seek(tp, 0)
    for tp, offset in positions.settled(generation):
        await self.seek(tp, offset)  # what was dropped meanwhile comes again (Positions.settled)
    return offsets


def never_committed(offsets: Mapping[Any, int | None], skip: Iterable[str]) -> list[Any]:
    """The partitions of `offsets` (from a seek to the committed offsets) that have none: aiokafka left them
    where they were. Offset 0 committed means nothing processed yet either."""
    skipped = set(skip)
    return [tp for tp, at in offsets.items() if tp.topic not in skipped and (at is None or at <= 0)]


_FETCHING: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()
_faust_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer


def fetching(app: Any, max_wait_ms: int, min_bytes: int) -> None:
    """How long the broker holds a fetch of `app`'s worker consumer (Faust's own: 1500 ms), and for how many
    bytes of new records."""
    _FETCHING[app] = (max_wait_ms, min_bytes)


def _create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
    consumer = _faust_create_worker_consumer(self, transport)
    if self.app in _FETCHING:
        # Read when the consumer starts and makes its Fetcher.
        consumer._fetch_max_wait_ms, consumer._fetch_min_bytes = _FETCHING[self.app]
    return consumer


def apply() -> None:
    """Install the corrections (idempotent)."""
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    # Source partitions are processed contiguously from where they were sought.
    Consumer.getmany = _getmany  # type: ignore[method-assign]
    Consumer.seek = _seek  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
