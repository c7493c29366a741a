"""Issue 7, point 6: security.

Proven elsewhere, not repeated here: the ingest refuses to start without a webhook secret
(tests/ingest/test_cli.py::test_ingest_refuses_to_start_without_a_secret) and answers 401 to a body without a
valid signature (tests/ingest/test_server.py::test_signatures, tests/ingest/test_properties.py).

Here: every page of the query API asks for the bearer token, on every worker, also when a worker forwards a
query to the worker that owns the key; nothing but GET is served; Faust's own pages (raw tables, router,
statistics) are off; the ingest and the worker listen where they are told; and neither the webhook secret nor
the query token ever shows in a log or in /metrics.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import urllib.request

import aiohttp
from aiokafka.partitioner import DefaultPartitioner
from fault_support import SITE, load_reference, metrics_text
from support import Service, free_port, http_json, http_status, post_bodies

from ingest.signature import sign
from mistpipe.settings import Settings
from topics.serde import encode_key

SECRET = "s3cret-of-the-webhook-0b7d4e"
TOKEN = "t0ken-of-the-query-api-9c2f61"
PUBLIC = {"/", "/map", "/static/{name}", "/readyz", "/metrics"}  # no table data: served without the token
PARAMS = {
    "key": "aa0000000001",
    "mac": "aa0000000001",
    "zone_id": "8ac84899-32db-6327-334c-9b6d58544cfe",
    "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5",
    "name": "map.js",
}
FAUST_PAGES = ["/table/", "/table/locations/", "/router/", "/router/locations/", "/graph/", "/stats/"]


def worker_pages() -> list[str]:
    """Every page the worker serves, from its Faust app built here (the same code the workers run)."""
    from pipeline.app import create_app

    settings = Settings(state_dir=tempfile.mkdtemp(), query_token=TOKEN)
    return sorted(create_app(settings).app.web.views)


def request(url: str, method: str = "GET", token: str | None = None) -> int | None:
    req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def answered(url: str, token: str | None) -> int | None:
    """The status of a GET, past a rebalance (503 with Retry-After, while partitions move)."""
    deadline = time.monotonic() + 60
    while (status := request(url, token=token)) == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    return status


def macs_on_every_partition(partitions: int) -> list[str]:
    """One device MAC per partition of the tables: some are owned by each of two workers."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        mac = f"ab{n:010x}"
        found.setdefault(DefaultPartitioner()(encode_key(mac), list(range(partitions)), []), mac)
        n += 1
    return [found[p] for p in sorted(found)]


async def test_query_api_guarded_read_only_and_no_secret_in_logs_or_metrics(
    deployment_factory, worker_factory, ingest_factory
):
    deployment = deployment_factory(partitions=4)
    deployment.secret = SECRET
    await load_reference(deployment)
    first = worker_factory(deployment, MISTPIPE_QUERY_TOKEN=TOKEN)
    second = worker_factory(deployment, MISTPIPE_QUERY_TOKEN=TOKEN)
    ingest = ingest_factory(deployment)
    pages = worker_pages()
    assert "/v1/locations/{key}" in pages and "/v1/local/maps/{map_id}/locations" in pages

    # Traffic: signed bodies, and forged ones (wrong secret, no signature, a signature of another body).
    ping = b'{"topic": "ping", "events": [{"site_id": "%s", "timestamp": %d}]}' % (SITE.encode(), time.time())
    assert await post_bodies(ingest.url, SECRET, [ping]) == [200]
    async with aiohttp.ClientSession() as session:
        for headers in (sign(ping, "not-the-secret"), {}, sign(b"{}", SECRET)):
            async with session.post(ingest.url, data=ping, headers=headers) as response:
                assert response.status == 401

    for worker in (first, second):
        base = f"http://127.0.0.1:{worker.port}"
        for page in pages:
            url = base + page.format(**PARAMS)
            if page in PUBLIC:
                assert answered(url, None) == 200, page
            else:  # the token, and only the token, opens every query page of every worker
                assert answered(url, None) == 401, page
                assert answered(url, "wrong") == 401, page
                assert answered(url, TOKEN) in (200, 404), page
            for method in ("POST", "PUT", "DELETE", "PATCH"):  # read-only
                assert request(url, method, TOKEN) == 405, (page, method)
        for page in FAUST_PAGES:  # Faust's own pages, which the token does not guard, are off
            assert request(base + page, token=TOKEN) == 404, page

    # A key on the other worker: the query is forwarded to its owner with the token, and refused without it.
    base = f"http://127.0.0.1:{first.port}"
    for mac in macs_on_every_partition(deployment.partitions):
        url = f"{base}/v1/devices/{mac}/status"
        assert answered(url, None) == 401
        status, body = http_json(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (status, body) == (404, {"error": f"no status of device {mac}"})
    status, body = http_json(
        f"{base}/v1/maps/{PARAMS['map_id']}/locations", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body  # merged from both workers: the peer's local page took the token

    # Neither the secret nor the token shows in a log or in /metrics.
    await asyncio.sleep(1)
    texts = [metrics_text(s.port) for s in (first, second, ingest)]
    texts += [s.log.read_text(errors="replace") for s in (first, second, ingest)]
    for text in texts:
        assert SECRET not in text and TOKEN not in text
        assert "Bearer" not in text
        assert not re.search(r"\b(?:[0-9a-f]{40}|[0-9a-f]{64})\b", text), "no signature (hex HMAC) either"


async def test_bind_addresses_are_configurable(deployment, tmp_path):
    """The ingest's --host and the worker's MISTPIPE_WEB_BIND: they listen there, and only there."""
    host = "127.0.0.2"  # loopback too, but not 127.0.0.1
    ingest_port, web_port = free_port(), free_port()
    ingest = Service(
        "ingest",
        ["ingest", "--host", host, "--port", str(ingest_port)],
        deployment.env(),
        tmp_path / "ingest.log",
        f"http://{host}:{ingest_port}/readyz",
    )
    worker = Service(
        "worker",
        ["worker"],
        deployment.env(MISTPIPE_WEB_BIND=host, MISTPIPE_WEB_PORT=str(web_port)),
        tmp_path / "worker.log",
        f"http://{host}:{web_port}/readyz",
    )
    try:
        await asyncio.to_thread(ingest.start)
        await asyncio.to_thread(worker.start)
        for port in (ingest_port, web_port):
            assert http_status(f"http://{host}:{port}/metrics") == 200
            assert http_status(f"http://127.0.0.1:{port}/metrics") is None  # nothing listens there
    finally:
        ingest.stop()
        worker.stop()
