"""pipeline/faustfix.py: a commit's flush waits for every queued changelog record, however slow."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.transport.producer import ProducerBuffer

from pipeline import faustfix


class SlowBuffer(ProducerBuffer):
    """A ProducerBuffer whose hand-over to the Kafka client takes longer than Faust's 0.1 s patience."""

    sent: list

    async def _send_pending(self, fut) -> None:
        await asyncio.sleep(0.25)
        self.sent.append(fut)


async def test_flush_drains_a_slow_buffer_completely():
    faustfix.apply()
    buffer = SlowBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    buffer.sent = []
    await buffer.start()
    try:
        for n in range(3):
            buffer.put(n)
        await buffer.flush()
        assert buffer.size == 0  # unpatched, flush gives up after the first slow record with 2 still queued
        await asyncio.sleep(0.3)  # the last record handed over
        assert buffer.sent == [0, 1, 2]
    finally:
        await buffer.stop()
