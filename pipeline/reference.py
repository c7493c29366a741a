"""Reference data: sites, maps and zones as Mist's API returns them, into the compacted mist.ref.* topics.

`load` reads JSON files (API answers saved to disk); `sync` asks Mist's REST API itself. Both write one
record per object, keyed by its id (JSON-encoded, as every key here), so the topic keeps the latest of each.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

from topics.names import ref_maps_topic, ref_sites_topic, ref_zones_topic
from topics.serde import decode_key, encode_key

KINDS = ("sites", "maps", "zones")


class ReferenceError(ValueError):
    pass


def kind_of(obj: dict[str, Any]) -> str:
    """Which API answer an object comes from, by its shape: zones have vertices, maps a ppm or a pixel size,
    sites a timezone, country or lat/lng."""
    if "vertices" in obj and "map_id" in obj:
        return "zones"
    if "ppm" in obj or ("width" in obj and "height" in obj and "site_id" in obj):
        return "maps"
    if any(k in obj for k in ("timezone", "country_code", "latlng", "address")) and "site_id" not in obj:
        return "sites"
    raise ReferenceError(f"cannot tell whether object {obj.get('id')!r} is a site, a map or a zone")


def read_files(paths: Iterable[Path], kind: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Objects of the given files (each a list, as the API answers, or one object), grouped by kind."""
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for path in paths:
        try:
            data = orjson.loads(Path(path).read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ReferenceError(f"{path}: not JSON: {exc}") from exc
        for obj in data if isinstance(data, list) else [data]:
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise ReferenceError(f"{path}: every object needs a string `id`")
            found[kind or kind_of(obj)].append(obj)
    return found


def topic_of(kind: str, prefix: str) -> str:
    return {"sites": ref_sites_topic, "maps": ref_maps_topic, "zones": ref_zones_topic}[kind](prefix)


async def publish(bootstrap: str, prefix: str, objects: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Write every object to its reference topic; returns how many of each kind."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = [
            await producer.send(topic_of(kind, prefix), key=encode_key(obj["id"]), value=orjson.dumps(obj))
            for kind, objs in objects.items()
            for obj in objs
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return {kind: len(objs) for kind, objs in objects.items()}


# -- Mist REST API -----------------------------------------------------------------------------------------


async def get_all(
    session: aiohttp.ClientSession,
    url: str,
    *,
    page_limit: int = 100,
    max_retries: int = 8,
    backoff_s: float = 1.0,
) -> list[dict[str, Any]]:
    """Every object of a Mist list endpoint: pages through `limit`/`page` until `X-Page-Total` objects (or
    an empty or short page) came back; on 429 waits Retry-After, else an exponential backoff with jitter."""
    objects: list[dict[str, Any]] = []
    page = 1
    retries = 0
    while True:
        async with session.get(url, params={"limit": page_limit, "page": page}) as response:
            if response.status == 429 or response.status >= 500:
                retries += 1
                if retries > max_retries:
                    raise ReferenceError(f"GET {url}: still {response.status} after {max_retries} retries")
                retry_after = response.headers.get("Retry-After", "")
                delay = float(retry_after) if retry_after.isdigit() else backoff_s * 2 ** (retries - 1)
                await asyncio.sleep(delay * (1 + random.random() / 10))
                continue
            if response.status != 200:
                text = (await response.text())[:300]
                raise ReferenceError(f"GET {url}: HTTP {response.status}: {text}")
            retries = 0
            batch = await response.json(loads=orjson.loads)
            total = response.headers.get("X-Page-Total")
        if not isinstance(batch, list):
            raise ReferenceError(f"GET {url}: expected a list, got {type(batch).__name__}")
        objects.extend(batch)
        if not batch or len(batch) < page_limit or (total is not None and len(objects) >= int(total)):
            return objects
        page += 1


async def fetch_org(
    base_url: str, org_id: str, token: str, *, page_limit: int = 100, backoff_s: float = 1.0
) -> dict[str, list[dict[str, Any]]]:
    """Sites of an org, and the maps and zones of each site."""
    base = base_url.rstrip("/")
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        sites = await get_all(
            session, f"{base}/api/v1/orgs/{org_id}/sites", page_limit=page_limit, backoff_s=backoff_s
        )
        maps: list[dict[str, Any]] = []
        zones: list[dict[str, Any]] = []
        for site in sites:
            site_url = f"{base}/api/v1/sites/{site['id']}"
            maps += await get_all(session, f"{site_url}/maps", page_limit=page_limit, backoff_s=backoff_s)
            zones += await get_all(session, f"{site_url}/zones", page_limit=page_limit, backoff_s=backoff_s)
    return {"sites": sites, "maps": maps, "zones": zones}


# -- what every worker holds -------------------------------------------------------------------------------


class ReferenceData:
    """Sites, maps and zones by id, as the latest record of each key in the reference topics says."""

    def __init__(self) -> None:
        self.sites: dict[str, dict[str, Any]] = {}
        self.maps: dict[str, dict[str, Any]] = {}
        self.zones: dict[str, dict[str, Any]] = {}
        self.ready = asyncio.Event()  # set once the topics were read to their end at start

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {"sites": self.sites, "maps": self.maps, "zones": self.zones}[kind]

    def apply(self, kind: str, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            id_ = decode_key(key)
            obj = None if value is None else orjson.loads(value)
        except orjson.JSONDecodeError:
            return  # not ours to judge here: `reference load` only writes JSON
        table = self.of(kind)
        if obj is None:  # a tombstone: the object was deleted
            table.pop(id_, None)
        elif isinstance(obj, dict):
            table[id_] = obj


async def follow(bootstrap: str, prefix: str, data: ReferenceData, poll_ms: int = 500) -> None:
    """Read every partition of the reference topics from the start, then keep reading: every worker holds
    all reference data, and a changed site, map or zone applies to the next event. No consumer group:
    each worker reads everything (what a Faust GlobalTable promises; see pipeline/app.py for why not one)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    kinds = {topic_of(kind, prefix): kind for kind in KINDS}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # consumer.topics() keeps only the names
        partitions = [
            TopicPartition(t, p) for t in kinds for p in sorted(cluster.partitions_for_topic(t) or ())
        ]
        if not partitions:
            raise RuntimeError(f"no reference topics {sorted(kinds)}: run `mistpipe topics create` first")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp, end in ends.items() if end > 0}
        if not pending:
            data.ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=poll_ms)
            for tp, records in batches.items():
                for record in records:
                    data.apply(kinds[tp.topic], record.key, record.value)
            if pending:
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
                if not pending:
                    data.ready.set()
    finally:
        await consumer.stop()
