"""Corrections to faust-streaming 0.15 that the pipeline's guarantees depend on.

1. Before it commits offsets, Faust flushes its producer: the ProducerBuffer (the queue that table
   changelog records wait in) and then aiokafka. But ProducerBuffer.flush() gives up as soon as one queued
   record takes more than 0.1 s to hand over (`flush_atmost` returns on that timeout), which a loaded
   worker sees ("producer buffer full" in its log). The commit then goes ahead with changelog records still
   queued; a worker killed at that moment comes back with tables older than its committed offsets, and the
   records in between are never counted (tests/faults/test_worker_kill.py caught it as an RSSI window one
   sample short).

2. After a rebalance, Faust's fetcher runs while the tables recover, and aiokafka fetches the source
   partitions too (Faust drops most of those records, their partitions not being active yet). Faust then
   seeks every partition back to its committed offset, but a fetch already under way still hands over
   records from where the early fetching got to. Faust takes the jump for a gap in the partition (as in a
   compacted topic), counts the skipped offsets as processed and commits past them: those records are never
   processed (the restarted worker of tests/faults/test_worker_kill.py lost dozens of records of
   mist.parsed this way, seen as RSSI windows short of samples). `contiguous` keeps each source partition
   contiguous from where it was sought: records past a jump are dropped and the partition is sought back
   to the first missing offset.

3. That seek to the committed offsets skips a partition with no committed offset yet (aiokafka seeks only
   to an offset above 0). Such a partition stays where the early fetching during the recovery got to, and
   the records before that are never processed: a worker killed before its first commit, and started
   again, lost every record its predecessor had not finished (tests/faults/test_worker_kill.py, once the
   worker was fast enough to reach the kill within its first 2.8 s). `_seek_to_committed` seeks those
   partitions to their start, as `consumer_auto_offset_reset="earliest"` says (changelogs excepted: the
   recovery reads those).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.producer import ProducerBuffer

log = logging.getLogger(__name__)

# A jump that a seek back does not cure this many times is real: records deleted by retention before they
# were read (the consumer resets to the earliest offset). Then it is taken, as Faust would.
MAX_SEEKS_BACK = 5


async def _flush_all(self: ProducerBuffer) -> None:
    """Wait until every queued record is handed to the Kafka client, however long each takes."""
    while self.size:
        await self.flush_atmost(None)  # raises when the producer stopped with records still queued


class Positions:
    """The next offset each partition's stream expects, to tell a stale record from the next one."""

    def __init__(self) -> None:
        self.next: dict[Any, int] = {}
        self.seeks_back: dict[tuple[Any, int], int] = {}

    def sought(self, offsets: Mapping[Any, int | None]) -> None:
        """Partitions sought to `offsets` (None or negative: no committed offset, nothing to expect)."""
        for tp, offset in offsets.items():
            if offset is not None and offset >= 0:
                self.next[tp] = offset
            else:
                self.next.pop(tp, None)

    def admit(self, tp: Any, offset: int) -> int | None:
        """None when the record at `offset` is the partition's next (or an earlier one, which Faust itself
        drops as read already); else the offset to seek back to, the record being past a jump."""
        want = self.next.get(tp)
        if want is not None and offset > want:
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
    records: AsyncIterator[tuple[Any, Any]], positions: Positions, skip: Iterable[str], seek: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """`records` (tp, message) with every record past a jump dropped, its partition sought back (`seek(tp,
    offset)`) to the first missing offset. Topics in `skip` (compacted changelogs, whose offsets have gaps)
    pass as they are."""
    skipped = set(skip)
    sought_back: set[Any] = set()
    async for tp, message in records:
        if tp.topic in skipped:
            yield tp, message
            continue
        if tp in sought_back:
            continue  # the rest of this fetch, past the jump too
        back_to = positions.admit(tp, message.offset)
        if back_to is None:
            yield tp, message
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
    changelogs = self.app.tables.changelog_topics
    async for tp, message in contiguous(
        _faust_getmany(self, timeout), _positions(self), changelogs, self._seek
    ):
        yield tp, message


async def _seek(self: Consumer, partition: Any, offset: int) -> None:
    await _faust_seek(self, partition, offset)
    _positions(self).sought({partition: offset})


async def _seek_to_committed(self: ThreadDelegateConsumer) -> Mapping[Any, int]:
    offsets = await _faust_seek_to_committed(self)
    _positions(self).sought(offsets)
    if self.app.conf.consumer_auto_offset_reset == "earliest":
        changelogs = self.app.tables.changelog_topics
        for tp in never_committed(offsets, changelogs):
            # Consumer.seek (patched above): Faust's read offset reset too, and the position expected.
            await self.seek(tp, 0)
    return offsets


def never_committed(offsets: Mapping[Any, int | None], skip: Iterable[str]) -> list[Any]:
    """The partitions of `offsets` (from a seek to the committed offsets) that have none: aiokafka left them
    where they were. Offset 0 committed means nothing processed yet either."""
    skipped = set(skip)
    return [tp for tp, at in offsets.items() if tp.topic not in skipped and (at is None or at <= 0)]


def apply() -> None:
    """Install both corrections (idempotent)."""
    # A commit's and a shutdown's flush drain the buffer completely.
    ProducerBuffer.flush = _flush_all  # type: ignore[method-assign]
    # Source partitions are processed contiguously from where they were sought.
    Consumer.getmany = _getmany  # type: ignore[method-assign]
    Consumer.seek = _seek  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
