"""The webhook receiver: `POST /webhooks/mist` → one Kafka record per body, 200 only once Kafka acked it.

Checks, cheapest and safest first: in-flight limit (503), body size (413), signature on the raw bytes (401),
JSON shape (400); then the produce (503 when Kafka does not ack in time). Also `GET /healthz`, `/readyz`,
`/metrics`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.metrics import IngestMetrics
from ingest.producer import KafkaProducer, ProduceError, RecordProducer
from ingest.routing import ShapeError, kafka_topic, parse, record_key
from ingest.signature import SIGNATURE_SHA1, SIGNATURE_V2, verify
from mistpipe.settings import Settings
from topics import headers as h

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/mist"
NO_SECRET = (
    "no webhook secret: set MISTPIPE_WEBHOOK_SECRETS to the secret configured on Mist's webhook "
    "(or MISTPIPE_ALLOW_UNSIGNED=true to accept unsigned webhooks, which anyone could forge)"
)
# Seconds a sender should wait: a burst passes quickly; a Kafka outage takes longer.
RETRY_AFTER_BUSY = "1"
RETRY_AFTER_KAFKA = "5"


class Ingest:
    def __init__(self, settings: Settings, producer: RecordProducer) -> None:
        self.settings = settings
        self.producer = producer
        self.metrics = IngestMetrics()
        self.secrets = [s.get_secret_value().encode() for s in settings.webhook_secrets]
        self.inflight = 0
        # Read when /metrics is scraped: no lock taken twice per request to keep a gauge up to date.
        self.metrics.inflight.set_function(lambda: self.inflight)
        # Counters' children by label, resolved once (`labels()` takes a lock and builds a tuple each call).
        self._answers: dict[int, Any] = {}
        self._events: dict[str, Any] = {}
        self._verified = b"true" if self.secrets else b"false"
        self.stopping = False
        self.failing: str | None = None  # the last reason Kafka refused, logged once until it recovers

    def _answer(self, status: int, doc: dict, retry_after: str | None = None) -> web.Response:
        counter = self._answers.get(status)
        if counter is None:
            counter = self._answers[status] = self.metrics.requests.labels(str(status))
        counter.inc()
        headers = {"Retry-After": retry_after} if retry_after else None
        response = web.Response(
            status=status, body=orjson.dumps(doc), content_type="application/json", headers=headers
        )
        if self.stopping:  # a keep-alive connection gets no further request once we shut down
            response.force_close()
        return response

    async def webhook(self, request: web.Request) -> web.Response:
        if self.inflight >= self.settings.max_inflight:
            return self._answer(503, {"error": "too many requests in flight"}, RETRY_AFTER_BUSY)
        self.inflight += 1
        try:
            return await self._webhook(request)
        finally:
            self.inflight -= 1

    async def _read(self, request: web.Request) -> bytes | None:
        """The body, or None as soon as it passes the limit (a chunked body has no Content-Length)."""
        limit = self.settings.max_body_bytes
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                self.metrics.bytes_in.inc(len(body))
                return None
        self.metrics.bytes_in.inc(len(body))  # once per body, not per chunk: a counter takes a lock
        return bytes(body)

    async def _webhook(self, request: web.Request) -> web.Response:
        limit = self.settings.max_body_bytes
        too_large = {"error": f"body larger than {limit} bytes"}
        if (request.content_length or 0) > limit:
            return self._answer(413, too_large)
        try:
            # A sender that stalls would hold its slot (of MISTPIPE_MAX_INFLIGHT) for good.
            async with asyncio.timeout(self.settings.body_timeout_s):
                body = await self._read(request)
        except TimeoutError:
            error = f"body not received within {self.settings.body_timeout_s}s"
            response = self._answer(408, {"error": error})
            response.force_close()
            return response
        if body is None:
            return self._answer(413, too_large)
        received_at_ms = time.time_ns() // 1_000_000
        if self.secrets and not verify(body, request.headers, self.secrets, self.settings.accept_sha1):
            sent = SIGNATURE_V2 in request.headers or (
                self.settings.accept_sha1 and SIGNATURE_SHA1 in request.headers
            )
            error = "signature does not match" if sent else f"no {SIGNATURE_V2} header"
            return self._answer(401, {"error": error})
        try:
            hook = parse(body)
        except ShapeError as exc:
            return self._answer(400, {"error": str(exc)})
        # No limit on the number of events: Mist documents no largest batch, and the byte limit bounds memory.

        topic = kafka_topic(hook.topic, self.settings.topic_prefix)
        headers = [
            (h.MIST_TOPIC, hook.topic.encode()),
            (h.RECEIVED_AT_MS, str(received_at_ms).encode()),
            (h.SIGNATURE_VERIFIED, self._verified),
        ]
        started = time.perf_counter()
        try:
            await self.producer.send(topic, body, record_key(hook.events), headers)
        except ProduceError as exc:
            if exc.too_large:  # Kafka is fine; this body never fits
                log.warning("answering 413: %s", exc.reason)
                return self._answer(413, {"error": exc.reason})
            self._kafka_failing(exc.reason)
            return self._answer(503, {"error": "Kafka did not accept the body"}, RETRY_AFTER_KAFKA)
        except TimeoutError:
            self._kafka_failing(f"no ack from Kafka within {self.settings.produce_timeout_s}s for {topic}")
            return self._answer(503, {"error": "Kafka did not acknowledge in time"}, RETRY_AFTER_KAFKA)
        self.metrics.produce_seconds.observe(time.perf_counter() - started)
        counter = self._events.get(topic)
        if counter is None:
            counter = self._events[topic] = self.metrics.events.labels(topic)
        counter.inc(len(hook.events))
        if self.failing:
            log.info("Kafka acknowledges records again")
            self.failing = None
        return self._answer(200, {"accepted": len(hook.events), "topic": topic})

    def _kafka_failing(self, reason: str) -> None:
        if reason != self.failing:
            log.warning("answering 503: %s", reason)
            self.failing = reason

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        if self.stopping:
            return web.json_response({"ready": False, "reason": "shutting down"}, status=503)
        if not await self.producer.ready():
            reason = f"Kafka at {self.settings.kafka_bootstrap} does not answer"
            return web.json_response({"ready": False, "reason": reason}, status=503)
        return web.json_response({"ready": True})

    async def metrics_view(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def kafka_ctx(self, _app: web.Application):
        # on_cleanup runs after aiohttp waited for in-flight requests: their produce completes, then flush.
        await self.producer.start()
        yield
        await self.producer.close()


INGEST = web.AppKey("ingest", Ingest)


def make_app(settings: Settings, producer: RecordProducer | None = None) -> web.Application:
    """The ingest as an aiohttp app; it starts and closes ``producer`` (by default librdkafka's)."""
    if not settings.webhook_secrets and not settings.allow_unsigned:
        raise ValueError(NO_SECRET)
    if producer is None:
        producer = KafkaProducer(
            settings.kafka_bootstrap, settings.produce_timeout_s, settings.max_body_bytes
        )
    ingest = Ingest(settings, producer)
    app = web.Application()
    app[INGEST] = ingest
    app.router.add_post(WEBHOOK_PATH, ingest.webhook)
    app.router.add_get("/healthz", ingest.healthz)
    app.router.add_get("/readyz", ingest.readyz)
    app.router.add_get("/metrics", ingest.metrics_view)
    app.cleanup_ctx.append(ingest.kafka_ctx)
    return app


async def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGTERM / SIGINT: then stop listening, let the requests in flight finish (their bodies
    still arriving, their produce pending), flush the producer, return."""
    app = make_app(settings)
    ingest = app[INGEST]
    if not settings.webhook_secrets:
        log.warning("MISTPIPE_ALLOW_UNSIGNED=true: webhook signatures are not checked; anyone can post")
    # access_log=None: a log line per webhook costs more than the webhook; /metrics counts them.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.produce_timeout_s + 5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info(
        "ingest listening on http://%s:%d%s, Kafka at %s, topic prefix %r",
        host,
        port,
        WEBHOOK_PATH,
        settings.kafka_bootstrap,
        settings.topic_prefix,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # aiohttp's own shutdown drops the bytes of a body still arriving (aio-libs/aiohttp#2298): drain the
    # requests in flight first, then let it close the idle connections.
    log.info("stopping: no new connections; %d requests in flight", ingest.inflight)
    await site.stop()
    ingest.stopping = True
    deadline = loop.time() + settings.produce_timeout_s + 5
    while ingest.inflight and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await runner.cleanup()
    log.info("ingest stopped")
