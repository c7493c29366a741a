"""Records out of the worker: librdkafka (confluent-kafka), whose produce() hands a record to a C queue and
returns, instead of a pure-Python send with a future per record (aiokafka's `send`, which Faust uses).

Measured in BENCHMARKS.md: the record hand-over is what a worker that writes one record per event spends
most on. librdkafka batches, compresses and sends on threads of its own; its delivery reports are read by a
thread here. What a commit needs is `settle()`: every record handed over before it is acknowledged by the
broker (acks=all, idempotent, so per partition in order and once). Records handed over while it waits are
the next commit's: they belong to a generation of their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

log = logging.getLogger(__name__)


class OutputError(RuntimeError):
    """A record Kafka did not take after the producer's retries: nothing past it may be committed."""


class _Generation:
    """The records handed over between two commits; `done` once each is acknowledged or failed.

    `handed` is counted by the loop's thread only, `acked` by the poll thread only: no count is written by
    two threads."""

    __slots__ = ("acked", "done", "failed", "handed", "loop", "sealed")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handed = 0
        self.acked = 0
        self.failed: list[str] = []
        self.sealed = False
        self.done = asyncio.Event()

    def delivered(self, err: KafkaError | None, msg: Any) -> None:
        # On the poll thread.
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err.str()}")
        self.acked += 1
        if self.sealed and self.acked == self.handed:
            self.loop.call_soon_threadsafe(self.done.set)


class Output:
    def __init__(
        self,
        bootstrap: str,
        client_id: str = "mistpipe-worker",
        on_failed: Callable[[str], None] | None = None,
        **config: Any,
    ) -> None:
        self.config = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "acks": "all",
            "enable.idempotence": True,
            # linger.ms: the worker's MISTPIPE_WORKER_LINGER_MS, passed in by create_app.
            # Java's partitioner (murmur2 of the key bytes): a keyed record lands where Java clients and
            # Faust would put it.
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            # A record not delivered within 5 minutes fails the commit, which then never passes it.
            "message.timeout.ms": 300_000,
            "logger": logging.getLogger("pipeline.kafka"),
            **config,
        }
        self.on_failed = on_failed
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._running = False
        self._gen: _Generation | None = None
        self._settling = asyncio.Lock()
        self.sent = 0

    @property
    def started(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        if self._producer is not None:
            return
        self._producer = Producer(self.config)
        self._gen = _Generation(asyncio.get_running_loop())
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="output-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Hand one record over (never waits; the queue holds two million)."""
        gen = self._gen
        kwargs: dict[str, Any] = {"on_delivery": gen.delivered}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        if headers:
            kwargs["headers"] = headers
        try:
            self._producer.produce(topic, value, key, **kwargs)
        except BufferError:  # the queue is full: let librdkafka send some, then hand it over
            self._producer.poll(0.1)
            self._producer.produce(topic, value, key, **kwargs)
        gen.handed += 1
        self.sent += 1

    def send_keyed(self, topic: str, key: bytes, value: bytes, timestamp_ms: int) -> None:
        """`send` of a keyed record on the partition of its key (0: no timestamp), for the hot path."""
        gen = self._gen
        try:
            self._producer.produce(topic, value, key, on_delivery=gen.delivered, timestamp=timestamp_ms)
        except BufferError:  # the queue is full: let librdkafka send some, then hand it over
            self._producer.poll(0.1)
            self._producer.produce(topic, value, key, on_delivery=gen.delivered, timestamp=timestamp_ms)
        gen.handed += 1
        self.sent += 1

    async def settle(self) -> None:
        """Wait until every record handed over so far is acknowledged; OutputError if one failed."""
        async with self._settling:
            gen, self._gen = self._gen, _Generation(asyncio.get_running_loop())
            gen.sealed = True  # from here the poll thread may finish it
            if gen.acked < gen.handed:
                await gen.done.wait()
            if gen.failed:
                for reason in gen.failed[:5]:
                    log.error("a record was not delivered: %s", reason)
                if self.on_failed is not None:
                    for reason in gen.failed:
                        self.on_failed(reason.split(":", 1)[0])
                raise OutputError(f"{len(gen.failed)} records not delivered, the first: {gen.failed[0]}")

    async def stop(self) -> None:
        if self._producer is None:
            return
        try:
            await self.settle()
        finally:
            self._running = False
            self._poller.join(timeout=5)
            self._producer.flush(10)
            self._producer = None
