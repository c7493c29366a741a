"""The ingest's Kafka producer: librdkafka (confluent-kafka), each delivery report resolved into an asyncio
future. Small on purpose (start, send, ready, close) so that a benchmark can swap in another client."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

log = logging.getLogger(__name__)


class ProduceError(Exception):
    """Kafka did not take the record. ``too_large``: it never will (the broker's size limit)."""

    def __init__(self, reason: str, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


class RecordProducer(Protocol):
    async def start(self) -> None: ...
    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]: ...
    async def ready(self) -> bool: ...
    async def close(self) -> None: ...


def _reason(err: KafkaError, topic: str) -> ProduceError:
    code = err.code()
    if code in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART):
        return ProduceError(f"Kafka topic {topic} does not exist: create it with `mistpipe topics create`")
    if code == KafkaError._MSG_TIMED_OUT:
        return ProduceError(f"no ack from Kafka for {topic} in time (broker down or unreachable?)")
    if code == KafkaError.MSG_SIZE_TOO_LARGE:
        return ProduceError(f"record too large for {topic}: {err.str()}", too_large=True)
    return ProduceError(f"Kafka refused the record for {topic}: {err.str()}")


class KafkaProducer:
    def __init__(self, bootstrap: str, timeout_s: float, max_message_bytes: int = 1_000_000) -> None:
        self.timeout_s = timeout_s
        ms = max(1, int(timeout_s * 1000))
        self.config = {
            "bootstrap.servers": bootstrap,
            "client.id": "mistpipe-ingest",
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            # Java's (and aiokafka's, and so Faust's) partitioner: murmur2 of the key bytes. librdkafka's
            # default (CRC32) would put a key on another partition than the one Faust's table_route expects.
            "partitioner": "murmur2_random",
            # Give up on a record when the HTTP answer does (503): no backlog of records nobody waits for.
            "message.timeout.ms": ms,
            # A topic absent from metadata fails fast (a clear reason) instead of waiting out the timeout.
            "topic.metadata.propagation.max.ms": min(ms, 1000),
            # The body limit is the ingest's; the broker's own limit answers MSG_SIZE_TOO_LARGE (413).
            "message.max.bytes": min(max(1_000_000, max_message_bytes + 65536), 1_000_000_000),
            "logger": logging.getLogger("ingest.kafka"),
            "error_cb": self._on_error,
        }
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._running = False
        self._ready_check: asyncio.Future[bool] | None = None
        self._last_error: int | None = None
        self._fatal: str | None = None
        # Delivery reports travel from the poll thread to the loop in batches: one wake-up for all that one
        # poll() delivered (measured ~10% faster than one call_soon_threadsafe per record, and than polling
        # from the loop).
        self._delivered: collections.deque = collections.deque()
        self._wakeup_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():  # this producer instance is done for: say so on /readyz, so that it gets restarted
            self._fatal = err.str()
            log.error("Kafka producer failed for good: %s", err.str())
            return
        # librdkafka reports a broker going away over and over while it reconnects: log each kind once.
        if err.code() != self._last_error:
            self._last_error = err.code()
            log.warning("Kafka: %s", err.str())

    async def start(self) -> None:
        # Does not wait for Kafka: the ingest starts, /readyz says 503 until the broker answers.
        self._loop = asyncio.get_running_loop()
        self._producer = Producer(self.config)
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        # Delivery reports run here, off the event loop.
        while self._running:
            self._producer.poll(0.1)

    def _deliver(self, future: asyncio.Future, result: tuple[int, int] | ProduceError) -> None:
        self._delivered.append((future, result))
        if not self._wakeup_pending:
            self._wakeup_pending = True
            self._loop.call_soon_threadsafe(self._resolve_delivered)

    def _resolve_delivered(self) -> None:
        self._wakeup_pending = False  # before draining: a report appended meanwhile is drained or rescheduled
        while self._delivered:
            future, result = self._delivered.popleft()
            if future.done():  # the request timed out and went away
                continue
            if isinstance(result, ProduceError):
                future.set_exception(result)
            else:
                self._last_error = None
                future.set_result(result)

    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        future: asyncio.Future[tuple[int, int]] = self._loop.create_future()

        def on_delivery(err: KafkaError | None, msg: object) -> None:
            self._deliver(future, _reason(err, topic) if err is not None else (msg.partition(), msg.offset()))

        try:
            self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError as exc:
            raise ProduceError("the producer's queue is full (Kafka slower than the webhooks)") from exc
        except KafkaException as exc:
            raise _reason(exc.args[0], topic) from exc
        async with asyncio.timeout(self.timeout_s):
            return await future

    async def ready(self) -> bool:
        """Whether a broker answers a metadata request, waiting at most the produce timeout (5 s at most).
        Concurrent probes share one request, so a burst of /readyz calls cannot tie up threads."""
        if self._ready_check is None or self._ready_check.done():
            self._ready_check = asyncio.get_running_loop().run_in_executor(None, self._metadata)
        return await asyncio.shield(self._ready_check)

    def _metadata(self) -> bool:
        if self._fatal:
            return False
        try:
            return bool(self._producer.list_topics(timeout=min(self.timeout_s, 5.0)).brokers)
        except KafkaException:
            return False

    async def close(self) -> None:
        """Stop the delivery thread, then deliver what is still queued (bounded by the produce timeout)."""
        if self._producer is None:
            return
        self._running = False
        await asyncio.get_running_loop().run_in_executor(None, self._poller.join)
        left = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, self.timeout_s)
        if left:
            log.warning("%d records not delivered to Kafka at shutdown", left)
        self._producer = None
