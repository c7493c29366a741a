"""Issue 7, point 5: resource bounds.

The ingest's limits (body size, events per body, requests in flight, the time to send a body) hold under a
flood of large and slow requests: its memory stays bounded and other senders keep being served. The worker's
tables stay bounded over a run with many distinct MACs: expired keys are freed, also those a restarted worker
restored from the changelogs (faust-streaming #385 is about restored windows that never expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter

import aiohttp
import orjson
from fault_support import SITE, load_reference, metric, metrics_text, rss_bytes, wait_for_metric
from support import produce_bodies, read_topics

from ingest.signature import sign

MiB = 1024 * 1024
MAX_BODY = 1 * MiB
MAX_INFLIGHT = 16  # fewer than the flood's senders: the limit answers 503s
MANY_EVENTS = 500  # a signed body of this many events: taken like any other


def ping(events: int = 1, pad: int = 0) -> bytes:
    batch = [{"site_id": SITE, "timestamp": time.time(), "id": uuid.uuid4().hex} for _ in range(events)]
    if pad:
        batch[0]["pad"] = "x" * pad
    return orjson.dumps({"topic": "ping", "events": batch})


async def post(session: aiohttp.ClientSession, url: str, body, secret: str | None, **headers) -> int:
    """The status of a POST; 0 when the ingest closed the connection before answering (a refused body)."""
    if secret is not None and isinstance(body, bytes):
        headers.update(sign(body, secret))
    headers = {"Content-Type": "application/json", **headers}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status
    except aiohttp.ClientOSError:
        return 0


async def stalled_request(port: int, declared: int, sent: bytes, hold: asyncio.Event) -> bytes:
    """A request that declares `declared` bytes, sends `sent`, then stalls until `hold` is set (or the server
    gives up); what the server answered (b"" when it answered nothing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"POST /webhooks/mist HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        writer.write(head + sent)
        await writer.drain()
        answer = asyncio.ensure_future(reader.read(200))
        await asyncio.wait([answer, asyncio.ensure_future(hold.wait())], return_when=asyncio.FIRST_COMPLETED)
        return answer.result() if answer.done() else b""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_ingest_limits_hold_under_a_flood(deployment, ingest_factory):
    ingest = ingest_factory(
        deployment,
        MISTPIPE_MAX_BODY_BYTES=str(MAX_BODY),
        MISTPIPE_MAX_INFLIGHT=str(MAX_INFLIGHT),
        MISTPIPE_BODY_TIMEOUT_S="60",  # the slow senders below finish within it
    )
    url, secret, pid = ingest.url, deployment.secret, ingest.proc.pid
    answers: dict[str, list[int]] = {k: [] for k in ("normal", "large", "chunked", "events", "big", "slow")}
    flooding = True
    peak = 0

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(20):  # warm up: the baseline is a serving ingest
            assert await post(session, url, ping(), secret) == 200
        baseline = rss_bytes(pid)

        async def normal() -> None:  # a well-behaved sender, retrying a 503 as Mist and `replay` do
            while flooding:
                status = await post(session, url, ping(3), secret)
                while status == 503:
                    await asyncio.sleep(0.2)
                    status = await post(session, url, ping(3), secret)
                answers["normal"].append(status)
                await asyncio.sleep(0.05)

        async def large() -> None:  # declared too large: refused before it is read
            body = b"x" * (MAX_BODY + 1)
            while flooding:
                answers["large"].append(await post(session, url, body, None))

        async def chunked() -> None:  # no length given, too large: refused once past the limit
            async def chunks():
                for _ in range(3):
                    yield b" " * MAX_BODY

            while flooding:
                answers["chunked"].append(await post(session, url, chunks(), None))

        async def events() -> None:  # signed, small enough, many events: accepted, whatever their number
            body = ping(MANY_EVENTS)
            while flooding:
                answers["events"].append(await post(session, url, body, secret))

        async def big() -> None:  # signed, valid, just under the limit, sent slowly: accepted
            while flooding:
                body = ping(1, pad=MAX_BODY - 500)

                async def slowly(body=body):
                    for i in range(0, len(body), 64 * 1024):
                        yield body[i : i + 64 * 1024]
                        await asyncio.sleep(0.1)

                answers["big"].append(await post(session, url, slowly(), None, **sign(body, secret)))

        async def slow() -> None:  # signed, valid, small, trickling in: holds a slot for seconds
            while flooding:
                body = ping(3)

                async def trickle(body=body):
                    for i in range(0, len(body), 40):
                        yield body[i : i + 40]
                        await asyncio.sleep(0.1)

                answers["slow"].append(await post(session, url, trickle(), None, **sign(body, secret)))

        async def watch() -> None:
            nonlocal peak
            while flooding:
                peak = max(peak, rss_bytes(pid))
                await asyncio.sleep(0.05)

        tasks = [asyncio.ensure_future(f()) for f in [normal, watch] + [large, chunked] * 6 + [events] * 2]
        tasks += [asyncio.ensure_future(f()) for f in [big] * 6 + [slow] * 8]
        await asyncio.sleep(20)
        flooding = False
        await asyncio.gather(*tasks)

    flood = {k: sorted(Counter(v).items()) for k, v in answers.items()}
    # Each limit answered as it should; the in-flight limit (503, retry) whenever the senders held every slot.
    assert {s for v in answers.values() for s in v} >= {200, 413, 503}, flood
    assert 413 in answers["large"] and set(answers["large"]) <= {413, 503, 0}, flood
    assert 413 in answers["chunked"] and set(answers["chunked"]) <= {413, 503, 0}, flood
    assert 200 in answers["events"] and set(answers["events"]) <= {200, 503}, flood
    for sender in ("big", "slow"):  # valid bodies, sent slowly: accepted, or 503 when no slot was free
        assert 200 in answers[sender] and set(answers[sender]) <= {200, 503}, flood
    # Others keep being served: every body of the well-behaved sender was accepted (a 503 retried).
    assert len(answers["normal"]) >= 20 and set(answers["normal"]) == {200}, flood
    # Memory stays bounded: a body is read only by a request in flight, and only up to the limit (plus what
    # the bodies in Kafka's queue hold): not by how much was sent. The flood sent several GiB.
    sent = metric(metrics_text(ingest.port), "mistpipe_ingest_body_bytes_total")
    bound = 4 * MAX_INFLIGHT * MAX_BODY + 64 * MiB
    assert sent > 2 * bound, (sent, bound)
    assert peak - baseline < bound, (
        f"RSS grew by {(peak - baseline) / MiB:.0f} MiB (baseline {baseline / MiB:.0f})"
    )
    assert ingest.proc.poll() is None


async def test_a_body_is_limited_by_its_size_not_its_number_of_events(deployment, ingest_factory):
    # Mist documents no largest batch: a body of many small events, within the byte limit, is taken.
    ingest = ingest_factory(deployment, MISTPIPE_MAX_BODY_BYTES=str(MAX_BODY))
    async with aiohttp.ClientSession() as session:
        body = ping(8_000)  # far more than any limit on the number of events a sender might fear
        assert len(body) < MAX_BODY
        assert await post(session, ingest.url, body, deployment.secret) == 200


async def test_stalled_senders_lose_their_slot(deployment, ingest_factory):
    """More stalled senders than slots: the others get 503 (and retry) until the body timeout (408) frees the
    slots; without it, the ingest would answer 503 to everyone for good."""
    ingest = ingest_factory(deployment, MISTPIPE_MAX_INFLIGHT="8", MISTPIPE_BODY_TIMEOUT_S="3")
    hold = asyncio.Event()
    stalled = [
        asyncio.ensure_future(stalled_request(ingest.port, 1000, b'{"topic":', hold)) for _ in range(10)
    ]
    inflight = await wait_for_metric(ingest.port, "mistpipe_ingest_inflight_requests", lambda v: v == 8)
    assert inflight == 8, "the stalled requests hold every slot"
    async with aiohttp.ClientSession() as session:
        assert await post(session, ingest.url, ping(), deployment.secret) == 503
        answers = await asyncio.wait_for(asyncio.gather(*stalled), 30)  # cut by the body timeout
        statuses = sorted(int(a.split()[1]) for a in answers)
        assert statuses == [408] * 8 + [503] * 2, answers
        assert await post(session, ingest.url, ping(), deployment.secret) == 200  # served again
    hold.set()


async def test_worker_tables_stay_bounded_and_restored_keys_expire(deployment_factory, worker_factory):
    """Many distinct MACs with a short retention: each table's keys go up, then back to zero, and keys a
    restarted worker restored from the changelogs expire too."""
    deployment = deployment_factory(partitions=2)
    await load_reference(deployment)
    short = {
        "MISTPIPE_RETENTION_SECONDS": "30",
        "MISTPIPE_DEDUPE_SECONDS": "5",
        "MISTPIPE_SESSION_TIMEOUT_S": "8",
    }
    first = worker_factory(deployment, **short)
    now, macs = time.time(), 1000
    bodies = []
    for i in range(0, macs, 50):
        batch = range(i, i + 50)
        rssi = [
            {
                "site_id": SITE,
                "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5",
                "org_id": "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61",
                "mac": f"e0{n:010x}",
                "device_id": "00000000-0000-0000-1000-5c5b350e55c8",
                "rssi": -70,
                "timestamp": now,
                "beam": 1,
            }
            for n in batch
        ]
        where = [
            {
                "site_id": SITE,
                "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5",
                "mac": f"e1{n:010x}",
                "id": "x",
                "type": "wifi",
                "timestamp": now,
                "x": 1.0,
                "y": 2.0,
            }
            for n in batch
        ]
        zone = [
            {
                "site_id": SITE,
                "map_id": "845a23bf-bed9-e43c-4c86-6fa474be7ae5",
                "zone_id": f"zone-{n % 20}",
                "type": "wifi",
                "mac": f"e2{n:010x}",
                "trigger": "enter",
                "timestamp": now,
            }
            for n in batch
        ]
        for topic, events in (("discovered-raw-rssi", rssi), ("location", where), ("zone", zone)):
            bodies.append((topic, orjson.dumps({"topic": topic, "events": events}), SITE))
    await produce_bodies(deployment, bodies)

    tables = ("rssi-windows", "locations", "zone-members")
    for table in tables:
        held = await wait_for_metric(
            first.port, "mistpipe_worker_table_keys", lambda v: v >= macs, table=table
        )
        assert held == macs, table
    first.kill()  # before the retention passed: the next worker restores every key from the changelogs
    second = worker_factory(deployment, **short)
    # It expires every key it restored (the killed worker expired none), and holds none after that.
    for table in tables:
        expired = await wait_for_metric(
            second.port, "mistpipe_worker_expired_keys_total", lambda v: v >= macs, timeout=120, table=table
        )
        assert expired == macs, table
    text = metrics_text(second.port)  # the expiry timer sets the gauges right after it expired keys
    assert {t: metric(text, "mistpipe_worker_table_keys", table=t) for t in tables} == {t: 0 for t in tables}
    # Tombstoned: in each changelog, every key's last record is a deletion, so no restart brings one back.
    for table in tables:
        changelog = f"{deployment.app_id}-{table}-changelog"
        records = await read_topics(deployment.bootstrap, [changelog], until=2 * macs)
        last = {r.key: r.value for r in sorted(records, key=lambda r: (r.partition, r.offset))}
        last = {k: v for k, v in last.items() if b"~marks" not in k}  # each partition's marks stay
        assert len(last) == macs and set(last.values()) == {None}, table
    assert metric(text, "mistpipe_worker_dedupe_keys") == 0
