"""reference: sites, maps and zones from files or Mist's REST API into the compacted topics, and back."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from support import MIST_API, free_port, run_cli

from mistpipe.admin import ensure_topics
from pipeline.reference import (
    KINDS,
    ReferenceData,
    ReferenceError,
    fetch_org,
    follow,
    get_all,
    kind_of,
    publish,
    read_files,
    topic_of,
)
from topics.names import TopicSpec, ref_maps_topic, ref_sites_topic, ref_zones_topic
from topics.serde import encode_key

ORG_ID = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
SITE_ID = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP_ID = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE_ID = "8ac84899-32db-6327-334c-9b6d58544cfe"
TOKEN = "test-token-0123456789"

FILES = {
    "sites": MIST_API / "GET_orgs_org_id_sites.json",
    "maps": MIST_API / "GET_sites_site_id_maps.json",
    "zones": MIST_API / "GET_sites_site_id_zones.json",
}
API = {kind: orjson.loads(path.read_bytes()) for kind, path in FILES.items()}

# A second site with a map of its own, so that the org's sites span two pages at page_limit=1.
SITE2 = {
    "id": "0c1a9f8e-5d2b-4c6e-9a7f-3b2e1d0c9f8e",
    "name": "Warehouse",
    "org_id": ORG_ID,
    "timezone": "Europe/Paris",
    "country_code": "FR",
    "latlng": {"lat": 48.8566, "lng": 2.3522},
}
MAP2 = {
    "id": "7d6c5b4a-3f2e-1d0c-9b8a-7f6e5d4c3b2a",
    "name": "Ground",
    "site_id": SITE2["id"],
    "org_id": ORG_ID,
    "ppm": 20.0,
    "width": 800,
    "height": 600,
}


# -- kind_of / read_files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_kind_of_api_samples(kind):
    assert API[kind]
    for obj in API[kind]:
        assert kind_of(obj) == kind


def test_kind_of_other_shapes():
    assert kind_of(SITE2) == "sites"
    assert kind_of(MAP2) == "maps"
    assert kind_of({"id": "m", "site_id": "s", "width": 10, "height": 20}) == "maps"  # not scaled yet
    assert kind_of({"id": "s", "address": "somewhere"}) == "sites"
    assert kind_of({"id": "z", "map_id": "m", "vertices": []}) == "zones"


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "what-is-this", "name": "Lobby"},
        {"id": "what-is-this"},
        {"id": "what-is-this", "vertices": [{"x": 1, "y": 2}]},  # vertices, but on no map
        {"id": "what-is-this", "site_id": "s", "timezone": "UTC"},  # a site does not belong to a site
    ],
)
def test_kind_of_unknown_shape(obj):
    with pytest.raises(ReferenceError, match="what-is-this") as info:
        kind_of(obj)
    assert "site, a map or a zone" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_files_of_the_samples_folder():
    found = read_files(sorted(MIST_API.glob("*.json")))
    assert found == {"sites": API["sites"], "maps": API["maps"], "zones": API["zones"]}
    assert [o["id"] for o in found["sites"]] == [SITE_ID]
    assert [o["id"] for o in found["maps"]] == [MAP_ID]
    assert [o["id"] for o in found["zones"]] == [ZONE_ID]


def test_read_files_single_objects_and_forced_kind(tmp_path):
    one = tmp_path / "site.json"
    one.write_bytes(orjson.dumps(SITE2))
    found = read_files([one, FILES["maps"]])
    assert found == {"sites": [SITE2], "maps": API["maps"], "zones": []}
    odd = tmp_path / "odd.json"
    odd.write_bytes(orjson.dumps([{"id": "a", "name": "only a name"}]))
    assert read_files([odd], kind="zones") == {
        "sites": [],
        "maps": [],
        "zones": [{"id": "a", "name": "only a name"}],
    }
    assert read_files([]) == {"sites": [], "maps": [], "zones": []}


def test_read_files_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReferenceError, match=r"bad\.json.*not JSON"):
        read_files([bad])
    no_id = tmp_path / "no-id.json"
    no_id.write_bytes(orjson.dumps([{"name": "Mist Office", "timezone": "UTC"}]))
    with pytest.raises(ReferenceError, match=r"no-id\.json.*string `id`"):
        read_files([no_id])
    int_id = tmp_path / "int-id.json"
    int_id.write_bytes(orjson.dumps({"id": 7, "timezone": "UTC"}))
    with pytest.raises(ReferenceError, match="string `id`"):
        read_files([int_id])
    unknown = tmp_path / "unknown.json"
    unknown.write_bytes(orjson.dumps([{"id": "x"}]))
    with pytest.raises(ReferenceError, match="'x'"):
        read_files([unknown])


def test_topic_of():
    assert topic_of("sites", "mist.") == "mist.ref.sites"
    assert topic_of("maps", "p.") == "p.ref.maps"
    assert topic_of("zones", "p.") == "p.ref.zones"


# -- ReferenceData.apply -------------------------------------------------------------------------------------


def test_apply_keeps_the_latest_by_id():
    data = ReferenceData()
    site = API["sites"][0]
    data.apply("sites", b'"' + SITE_ID.encode() + b'"', orjson.dumps(site))
    assert data.sites == {SITE_ID: site}
    renamed = dict(site, name="Renamed")
    data.apply("sites", encode_key(SITE_ID), orjson.dumps(renamed))
    assert data.sites[SITE_ID]["name"] == "Renamed"
    data.apply("maps", encode_key(MAP_ID), orjson.dumps(API["maps"][0]))
    data.apply("zones", encode_key(ZONE_ID), orjson.dumps(API["zones"][0]))
    assert data.of("maps") is data.maps and data.maps[MAP_ID]["ppm"] == 40.94
    assert data.of("zones")[ZONE_ID]["name"] == "Lobby"
    assert data.sites.keys() == {SITE_ID}


def test_apply_tombstone_deletes():
    data = ReferenceData()
    data.apply("zones", b'"z1"', b'{"id": "z1", "name": "Lobby"}')
    data.apply("zones", b'"z2"', b'{"id": "z2", "name": "Cafe"}')
    data.apply("zones", b'"z1"', None)
    assert data.zones == {"z2": {"id": "z2", "name": "Cafe"}}
    data.apply("zones", b'"never-seen"', None)  # a tombstone of nothing: nothing happens
    assert list(data.zones) == ["z2"]


def test_apply_ignores_what_it_cannot_read():
    data = ReferenceData()
    data.apply("sites", b'"s"', b'{"id": "s", "name": "A"}')
    data.apply("sites", b'"s"', b"{not json")  # non-JSON value
    data.apply("sites", b"s", b'{"id": "s", "name": "B"}')  # non-JSON key (raw bytes, not JSON-encoded)
    data.apply("sites", None, b'{"id": "s", "name": "C"}')  # no key
    data.apply("sites", b'"s"', b"[1, 2]")  # JSON, but not an object
    assert data.sites == {"s": {"id": "s", "name": "A"}}
    assert not data.ready.is_set()


# -- a local Mist API ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]):
    """An aiohttp server on 127.0.0.1 and a free port; yields its base URL."""
    app = web.Application()
    for path, handler in routes:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class FakeMist:
    url: str
    sites: list[dict[str, Any]]
    maps: list[dict[str, Any]]
    zones: list[dict[str, Any]]
    log: list[tuple[str, int, int, int]] = field(default_factory=list)  # path, limit, page, status


@pytest.fixture
async def mist() -> AsyncIterator[FakeMist]:
    """Mist's list endpoints, paged by limit/page with X-Page-Total; Token auth; one 429 on the way."""
    sites = [*API["sites"], SITE2]
    maps = [*API["maps"], MAP2]
    zones = list(API["zones"])
    throttled: set[str] = set()
    state: dict[str, FakeMist] = {}

    def answer(request: web.Request, objects: list[dict[str, Any]]) -> web.Response:
        limit = int(request.query.get("limit", "100"))
        page = int(request.query.get("page", "1"))

        def done(response: web.Response) -> web.Response:
            state["mist"].log.append((request.path, limit, page, response.status))
            return response

        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return done(
                web.json_response({"detail": "Authentication credentials were not provided."}, status=401)
            )
        # The first request for a second page is throttled once.
        if page == 2 and request.path not in throttled:
            throttled.add(request.path)
            return done(
                web.json_response({"detail": "Too many requests"}, status=429, headers={"Retry-After": "0"})
            )
        chunk = objects[(page - 1) * limit : page * limit]
        return done(web.json_response(chunk, headers={"X-Page-Total": str(len(objects))}))

    async def org_sites(request: web.Request) -> web.Response:
        if request.match_info["org"] != ORG_ID:
            return web.json_response({"detail": "not found"}, status=404)
        return answer(request, sites)

    async def site_maps(request: web.Request) -> web.Response:
        return answer(request, [m for m in maps if m["site_id"] == request.match_info["site"]])

    async def site_zones(request: web.Request) -> web.Response:
        return answer(request, [z for z in zones if z["site_id"] == request.match_info["site"]])

    routes = [
        ("/api/v1/orgs/{org}/sites", org_sites),
        ("/api/v1/sites/{site}/maps", site_maps),
        ("/api/v1/sites/{site}/zones", site_zones),
    ]
    async with serve(routes) as url:
        state["mist"] = FakeMist(url, sites, maps, zones)
        yield state["mist"]


async def test_fetch_org_pages_and_retries(mist):
    found = await fetch_org(mist.url, ORG_ID, TOKEN, page_limit=1, backoff_s=0.001)
    assert set(found) == set(KINDS)
    assert [s["id"] for s in found["sites"]] == [SITE_ID, SITE2["id"]]
    assert found["sites"] == mist.sites
    assert sorted(m["id"] for m in found["maps"]) == sorted([MAP_ID, MAP2["id"]])
    assert [z["id"] for z in found["zones"]] == [ZONE_ID]
    assert found["zones"] == mist.zones
    # Every object exactly once.
    for kind in KINDS:
        ids = [o["id"] for o in found[kind]]
        assert len(ids) == len(set(ids))

    sites_path = f"/api/v1/orgs/{ORG_ID}/sites"
    site_requests = [(page, status) for path, _, page, status in mist.log if path == sites_path]
    assert site_requests == [(1, 200), (2, 429), (2, 200)]  # the 429 was retried, on the same page
    assert all(limit == 1 for _, limit, _, _ in mist.log)
    assert all(status in (200, 429) for *_, status in mist.log)
    # Every site's maps and zones were asked for.
    for site_id in (SITE_ID, SITE2["id"]):
        assert any(path == f"/api/v1/sites/{site_id}/maps" and s == 200 for path, _, _, s in mist.log)
        assert any(path == f"/api/v1/sites/{site_id}/zones" and s == 200 for path, _, _, s in mist.log)


async def test_fetch_org_with_default_page_size(mist):
    found = await fetch_org(mist.url + "/", ORG_ID, TOKEN, backoff_s=0.001)
    assert [s["id"] for s in found["sites"]] == [SITE_ID, SITE2["id"]]
    assert len(found["maps"]) == 2 and len(found["zones"]) == 1
    assert {page for _, _, page, _ in mist.log} == {1}  # everything fits one page: no second request


@pytest.mark.parametrize("token", ["wrong-token", ""])
async def test_fetch_org_bad_token(mist, token):
    with pytest.raises(ReferenceError, match="401"):
        await fetch_org(mist.url, ORG_ID, token, page_limit=1, backoff_s=0.001)
    assert [status for *_, status in mist.log] == [401]


async def test_get_all_pages_through_a_list(mist):
    headers = {"Authorization": f"Token {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = f"{mist.url}/api/v1/orgs/{ORG_ID}/sites"
        sites = await get_all(session, url, page_limit=1, backoff_s=0.001)
        assert sites == mist.sites
        again = await get_all(session, url, page_limit=1, backoff_s=0.001)  # already throttled once: no 429
        assert again == mist.sites
        empty = await get_all(session, f"{mist.url}/api/v1/sites/{SITE2['id']}/zones", page_limit=1)
        assert empty == []
        with pytest.raises(ReferenceError, match="404"):
            await get_all(session, f"{mist.url}/api/v1/orgs/no-such-org/sites", page_limit=1)


async def test_get_all_without_page_total_stops_at_a_short_page():
    objects = [{"id": str(i)} for i in range(5)]
    pages: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        limit, page = int(request.query["limit"]), int(request.query["page"])
        pages.append(page)
        return web.json_response(objects[(page - 1) * limit : page * limit])

    async with serve([("/list", handler)]) as url, aiohttp.ClientSession() as session:
        assert await get_all(session, f"{url}/list", page_limit=2) == objects
        assert pages == [1, 2, 3]
        pages.clear()
        assert await get_all(session, f"{url}/list", page_limit=5) == objects
        assert pages == [1, 2]  # a full last page: the next, empty one ends it


async def test_get_all_gives_up_after_max_retries():
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        return web.Response(status=503, text="busy")

    async with serve([("/list", handler)]) as url, aiohttp.ClientSession() as session:
        with pytest.raises(ReferenceError, match="503 after 2 retries"):
            await get_all(session, f"{url}/list", max_retries=2, backoff_s=0.001)
    assert len(calls) == 3


async def test_get_all_recovers_from_server_errors():
    answers = [web.Response(status=502), web.Response(status=500)]

    async def handler(request: web.Request) -> web.Response:
        return answers.pop(0) if answers else web.json_response([{"id": "a"}], headers={"X-Page-Total": "1"})

    async with serve([("/list", handler)]) as url, aiohttp.ClientSession() as session:
        assert await get_all(session, f"{url}/list", backoff_s=0.001) == [{"id": "a"}]
    assert answers == []


async def test_get_all_rejects_a_non_list():
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"results": []})

    async with serve([("/list", handler)]) as url, aiohttp.ClientSession() as session:
        with pytest.raises(ReferenceError, match="expected a list"):
            await get_all(session, f"{url}/list")


# -- against the real broker ---------------------------------------------------------------------------------


PARTITIONS = 3


async def create_ref_topics(bootstrap: str, prefix: str) -> None:
    specs = [TopicSpec(topic_of(kind, prefix), compacted=True) for kind in KINDS]
    report = await ensure_topics(bootstrap, specs, PARTITIONS)
    assert report.ok and sorted(report.created) == sorted(s.name for s in specs), report


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of a topic (of PARTITIONS partitions), from the start to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records = []
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += [(r.key, r.value) for r in batch]
        return records
    finally:
        await consumer.stop()


async def wait_ready(task: asyncio.Task, data: ReferenceData, timeout: float = 30) -> None:
    """Wait for data.ready, failing with follow's own error if it ended first."""
    async with asyncio.timeout(timeout):
        ready = asyncio.ensure_future(data.ready.wait())
        try:
            await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
    if task.done():
        task.result()  # raises follow's exception
        pytest.fail("follow returned")
    assert data.ready.is_set()


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_publish_and_follow(kafka_bootstrap, unique):
    prefix = unique("reftest") + "."
    await create_ref_topics(kafka_bootstrap, prefix)
    counts = await publish(kafka_bootstrap, prefix, read_files(sorted(MIST_API.glob("*.json"))))
    assert counts == {"sites": 1, "maps": 1, "zones": 1}

    data = ReferenceData()
    task = asyncio.create_task(follow(kafka_bootstrap, prefix, data, poll_ms=100))
    try:
        await wait_ready(task, data)
        assert data.sites == {SITE_ID: API["sites"][0]}
        assert data.maps == {MAP_ID: API["maps"][0]}
        assert data.zones == {ZONE_ID: API["zones"][0]}
        assert data.sites[SITE_ID]["name"] == "Mist Office"
        assert data.maps[MAP_ID]["ppm"] == 40.94

        # A change arrives in the same ReferenceData, without restarting follow.
        renamed = dict(API["sites"][0], name="Mist HQ")
        assert await publish(kafka_bootstrap, prefix, {"sites": [renamed, SITE2]}) == {"sites": 2}
        async with asyncio.timeout(15):
            while data.sites[SITE_ID]["name"] != "Mist HQ" or SITE2["id"] not in data.sites:
                assert not task.done(), task
                await asyncio.sleep(0.05)
        assert data.sites == {SITE_ID: renamed, SITE2["id"]: SITE2}
        assert data.maps == {MAP_ID: API["maps"][0]}

        # A tombstone deletes.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(ref_zones_topic(prefix), key=encode_key(ZONE_ID), value=None)
        finally:
            await producer.stop()
        async with asyncio.timeout(15):
            while ZONE_ID in data.zones:
                assert not task.done(), task
                await asyncio.sleep(0.05)
        assert data.zones == {}
    finally:
        await stop(task)


async def test_follow_empty_topics_is_ready(kafka_bootstrap, unique):
    prefix = unique("reftest") + "."
    await create_ref_topics(kafka_bootstrap, prefix)
    data = ReferenceData()
    task = asyncio.create_task(follow(kafka_bootstrap, prefix, data, poll_ms=100))
    try:
        await wait_ready(task, data, timeout=15)
        assert data.sites == data.maps == data.zones == {}
        # What is published later still arrives.
        await publish(kafka_bootstrap, prefix, {"zones": API["zones"]})
        async with asyncio.timeout(15):
            while ZONE_ID not in data.zones:
                assert not task.done(), task
                await asyncio.sleep(0.05)
        assert data.zones[ZONE_ID]["name"] == "Lobby"
    finally:
        await stop(task)


async def test_follow_without_topics_says_so(kafka_bootstrap, unique):
    prefix = unique("reftest-none") + "."
    with pytest.raises(RuntimeError, match="topics create"):
        async with asyncio.timeout(30):
            await follow(kafka_bootstrap, prefix, ReferenceData())


async def test_cli_reference_load(kafka_bootstrap, unique):
    prefix = unique("reftest-cli") + "."
    await create_ref_topics(kafka_bootstrap, prefix)
    result = await asyncio.to_thread(
        run_cli,
        "reference",
        "load",
        str(MIST_API),
        "--kafka-bootstrap",
        kafka_bootstrap,
        "--topic-prefix",
        prefix,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"1 sites, 1 maps, 1 zones written to {prefix}ref.*"

    expected = {
        ref_sites_topic(prefix): API["sites"],
        ref_maps_topic(prefix): API["maps"],
        ref_zones_topic(prefix): API["zones"],
    }
    for topic, objects in expected.items():
        records = await read_topic(kafka_bootstrap, topic)
        assert [key for key, _ in records] == [f'"{o["id"]}"'.encode() for o in objects]
        assert [orjson.loads(value) for _, value in records] == objects


async def test_cli_reference_load_files_and_errors(kafka_bootstrap, unique, tmp_path: Path):
    prefix = unique("reftest-cli") + "."
    await create_ref_topics(kafka_bootstrap, prefix)
    site2 = tmp_path / "site2.json"
    site2.write_bytes(orjson.dumps(SITE2))
    args = ("--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", prefix)
    result = await asyncio.to_thread(run_cli, "reference", "load", str(FILES["sites"]), str(site2), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"2 sites, 0 maps, 0 zones written to {prefix}ref.*"
    records = await read_topic(kafka_bootstrap, ref_sites_topic(prefix))
    assert sorted(records) == sorted(
        [(encode_key(SITE_ID), orjson.dumps(API["sites"][0])), (encode_key(SITE2["id"]), orjson.dumps(SITE2))]
    )

    unknown = tmp_path / "unknown.json"
    unknown.write_bytes(orjson.dumps([{"id": "what-is-this"}]))
    result = await asyncio.to_thread(run_cli, "reference", "load", str(unknown), *args)
    assert result.returncode != 0
    assert "what-is-this" in result.stderr
    assert await read_topic(kafka_bootstrap, ref_zones_topic(prefix)) == []


async def test_cli_reference_sync_writes_what_mist_answers(mist, kafka_bootstrap, unique):
    prefix = unique("reftest-sync") + "."
    await create_ref_topics(kafka_bootstrap, prefix)
    env = {**os.environ, "MY_MIST_TOKEN": TOKEN}
    args = ("--org-id", ORG_ID, "--token-env", "MY_MIST_TOKEN", "--base-url", mist.url)
    kafka = ("--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", prefix)
    result = await asyncio.to_thread(run_cli, "reference", "sync", *args, *kafka, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"2 sites, 2 maps, 1 zones synced from {mist.url}"
    assert TOKEN not in result.stdout + result.stderr
    for kind, objects in (("sites", mist.sites), ("maps", mist.maps), ("zones", mist.zones)):
        records = await read_topic(kafka_bootstrap, topic_of(kind, prefix))
        assert sorted(records) == sorted((encode_key(o["id"]), orjson.dumps(o)) for o in objects), kind

    # No token: a usage error before any request.
    result = await asyncio.to_thread(run_cli, "reference", "sync", *args, *kafka, env=dict(os.environ))
    assert result.returncode == 2 and "MY_MIST_TOKEN" in result.stderr


async def test_cli_reference_without_kafka_says_so_in_a_line():
    args = ("--kafka-bootstrap", f"127.0.0.1:{free_port()}", "--topic-prefix", "nowhere.")
    result = await asyncio.to_thread(run_cli, "reference", "load", str(MIST_API), *args)
    assert result.returncode == 1
    assert "did not take the reference data" in result.stderr and "Traceback" not in result.stderr
