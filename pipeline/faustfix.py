"""A correction to faust-streaming 0.15 that the pipeline's guarantees depend on.

Before it commits offsets, Faust flushes its producer: the ProducerBuffer (the queue that table changelog
records wait in) and then aiokafka. But ProducerBuffer.flush() gives up as soon as one queued record takes
more than 0.1 s to hand over (`flush_atmost` returns on that timeout), which a loaded worker sees ("producer
buffer full" in its log). The commit then goes ahead with changelog records still queued; a worker killed at
that moment comes back with tables older than its committed offsets, and the records in between are never
counted (tests/faults/test_worker_kill.py caught it as an RSSI window one sample short).
"""

from __future__ import annotations

from faust.transport.producer import ProducerBuffer


async def _flush_all(self: ProducerBuffer) -> None:
    """Wait until every queued record is handed to the Kafka client, however long each takes."""
    while self.size:
        await self.flush_atmost(None)  # raises when the producer stopped with records still queued


def apply() -> None:
    """Make ProducerBuffer.flush() (what a commit and a shutdown wait for) drain the buffer completely."""
    ProducerBuffer.flush = _flush_all  # type: ignore[method-assign]
