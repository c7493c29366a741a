"""The query API on the worker's web port: read-only JSON over the aggregate tables.

A key is answered by the worker that owns its partition: the request is forwarded there (Faust's router,
with the key normalised first, so `AA:BB:..` and `aabb..` reach the same owner). Entities on a map are spread
over every partition, so `/v1/maps/{map_id}/locations` asks every worker and merges the answers.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiokafka.partitioner import DefaultPartitioner

from mistpipe.settings import Settings
from pipeline import aggregate as agg
from pipeline.reference import ReferenceData
from pipeline.state import group_of, public
from pipeline.tables import Aggregates
from topics.models.common import normalise_mac
from topics.serde import encode_key

MAX_ID = 128
RETRY = {"Retry-After": "1"}
PEER = aiohttp.ClientTimeout(total=5)


class BadRequest(ValueError):
    pass


def parse_mac(value: str) -> str:
    try:
        return normalise_mac(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def parse_entity(value: str) -> str:
    """A client/asset MAC in any of Mist's spellings, or an SDK client id."""
    try:
        return normalise_mac(value)
    except ValueError:
        if not value or len(value) > MAX_ID:
            raise BadRequest("expected a MAC address or an SDK client id") from None
        return value


def newest_by_key(answers: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The workers' location lists merged: one record per entity key, the newest by event time (two
    workers may both answer for a key while a rebalance moves it), sorted by key."""
    newest: dict[str, dict[str, Any]] = {}
    for record in (r for answer in answers for r in answer):
        held = newest.get(record["key"])
        if held is None or (record.get("timestamp") or 0) > (held.get("timestamp") or 0):
            newest[record["key"]] = record
    return [newest[key] for key in sorted(newest)]


def authorized(request: Any, token: bytes | None) -> bool:
    """With a query token set, the request must carry `Authorization: Bearer <token>` (constant time)."""
    if token is None:
        return True
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, b"Bearer " + token)


def guarded_pages(app: Any, token: bytes | None) -> Callable[[str], Callable]:
    """`page(path)`: the decorator of a read-only GET view of the query API, behind the bearer token when one
    is set (401 with WWW-Authenticate without it). Every data page of the worker is made with it."""

    def page(path: str) -> Callable:
        def decorate(handler: Callable[..., Awaitable[Any]]) -> Any:
            @functools.wraps(handler)
            async def guarded(web: Any, request: Any, **params: str) -> Any:
                if not authorized(request, token):
                    headers = {"WWW-Authenticate": 'Bearer realm="mistpipe"'}
                    return web.json(
                        {"error": "a valid bearer token is required"}, status=401, headers=headers
                    )
                return await handler(web, request, **params)

            return app.page(path)(guarded)

        return decorate

    return page


def wire_views(app: Any, settings: Settings, aggs: Aggregates, refs: ReferenceData) -> None:
    token = settings.query_token.get_secret_value().encode() if settings.query_token else None

    def error(web: Any, status: int, message: str) -> Any:
        return web.json({"error": message}, status=status)

    page = guarded_pages(app, token)

    partitioner = DefaultPartitioner()
    all_partitions = list(range(settings.partitions))
    me = str(app.conf.canonical_url).rstrip("/")

    def owner_of(state: Any, key: str) -> str | None:
        """The URL of the worker that holds `key` in `state`: the key's partition, as Faust and Java clients
        hash it (murmur2 of its JSON bytes), looked up in the assignment of the table's changelog."""
        partition = partitioner(encode_key(key), all_partitions, all_partitions)
        topic = state.table.changelog_topic.get_topic_name()
        for url, topics in app.router.table_metadata(state.name).items():
            if partition in topics.get(topic, ()):
                return str(url).rstrip("/")
        return None

    async def owned(
        state: Any, key: str, web: Any, request: Any, answer: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Answer here if this worker owns `key`'s partition of `state`, else forward to the owner."""
        owner = owner_of(state, key)
        if owner is None:
            return web.json({"error": "partitions are being assigned; retry"}, status=503, headers=RETRY)
        if owner == me:
            return await answer()
        forward = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        try:
            async with app.http_client.get(
                owner + request.url.path_qs, headers=forward, timeout=PEER
            ) as response:
                body = await response.read()
                return web.bytes(body, content_type=response.content_type, status=response.status)
        except (TimeoutError, aiohttp.ClientError):
            return web.json(
                {"error": f"the worker owning {key} did not answer; retry"}, status=503, headers=RETRY
            )

    def zone_info(zone_id: str) -> dict[str, Any]:
        ref = refs.zones.get(zone_id) or {}
        seen = aggs.zones_seen.get(zone_id) or {}
        return {
            "zone_name": ref.get("name") or seen.get("name"),
            "site_id": ref.get("site_id") or seen.get("site_id"),
        }

    @page("/v1/locations/{key}")
    async def location(web: Any, request: Any, key: str) -> Any:
        try:
            entity = parse_entity(key)
        except BadRequest as exc:
            return error(web, 400, str(exc))

        async def answer() -> Any:
            record = public(aggs.locations.get(entity))
            if record is None:
                return error(web, 404, f"no location for {entity}")
            return web.json(record)

        return await owned(aggs.locations, entity, web, request, answer)

    def local_map_locations(map_id: str, since: float) -> list[dict[str, Any]]:
        found = []
        for key in sorted(aggs.map_index.get(map_id, ())):
            record = public(aggs.locations.get(key))
            if (
                record is not None
                and record.get("map_id") == map_id
                and (record.get("timestamp") or 0) >= since
            ):
                found.append(record)
        return found

    def since_of(request: Any) -> float:
        given = request.query.get("since")
        if given is not None:
            try:
                return float(given)
            except ValueError:
                raise BadRequest("since: expected epoch seconds") from None
        return time.time() - settings.presence_seconds

    @page("/v1/local/maps/{map_id}/locations")
    async def local_map(web: Any, request: Any, map_id: str) -> Any:
        try:
            since = since_of(request)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        return web.json({"map_id": map_id, "locations": local_map_locations(map_id, since)})

    @page("/v1/maps/{map_id}/locations")
    async def map_locations(web: Any, request: Any, map_id: str) -> Any:
        try:
            since = since_of(request)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        peers = sorted({str(url).rstrip("/") for url in app.router.tables_metadata()} - {me})

        async def ask(peer: str) -> list[dict[str, Any]]:
            url = f"{peer}/v1/local/maps/{map_id}/locations"
            forward = (
                {"Authorization": request.headers["Authorization"]}
                if "Authorization" in request.headers
                else {}
            )
            params = {"since": str(since)}
            async with app.http_client.get(url, params=params, headers=forward, timeout=PEER) as response:
                response.raise_for_status()
                return (await response.json())["locations"]

        try:
            answers = await asyncio.gather(*(ask(peer) for peer in peers))
        except (TimeoutError, aiohttp.ClientError):
            # A partial map would look like people left: say so instead.
            return web.json(
                {"error": "a worker did not answer; retry"}, status=503, headers={"Retry-After": "1"}
            )
        found = newest_by_key([local_map_locations(map_id, since), *answers])
        if not found and map_id not in refs.maps:
            return error(web, 404, f"unknown map {map_id}")
        return web.json({"map_id": map_id, "locations": found})

    @page("/v1/zones/{zone_id}/occupancy")
    async def occupancy(web: Any, request: Any, zone_id: str) -> Any:
        async def answer() -> Any:
            members = []
            ignored = 0
            for key in aggs.members.keys_of(zone_id):
                state = public(aggs.members.get(key))
                if state is None:
                    continue
                ignored += state.get("ignored_exits", 0)
                inside, entered = agg.zone_membership(state)
                if inside:
                    members.append({"member": state["member"], "type": state.get("type"), "entered": entered})
            alert = public(aggs.alerts.get(zone_id))
            known = members or aggs.members.keys_of(zone_id) or zone_id in refs.zones or alert
            if not known:
                return error(web, 404, f"unknown zone {zone_id}")
            body = {"zone_id": zone_id, **zone_info(zone_id), "count": len(members), "members": members}
            body.update(exits_ignored=ignored, alert=alert)
            return web.json(body)

        return await owned(aggs.members, zone_id, web, request, answer)

    @page("/v1/zones/{zone_id}/visits")
    async def visits(web: Any, request: Any, zone_id: str) -> Any:
        async def answer() -> Any:
            size = settings.visit_window_seconds
            windows = []
            for key in aggs.visit_windows.keys_of(zone_id):
                value = public(aggs.visit_windows.get(key))
                if value is not None:
                    windows.append(agg.window_summary(value, float(key.rsplit("|", 1)[1]), size))
            known = windows or aggs.members.keys_of(zone_id) or zone_id in refs.zones
            if not known:
                return error(web, 404, f"unknown zone {zone_id}")
            windows.sort(key=lambda w: w["start"])
            return web.json({"zone_id": zone_id, "windows": windows})

        return await owned(aggs.visit_windows, zone_id, web, request, answer)

    @page("/v1/rssi/{mac}")
    async def rssi(web: Any, request: Any, mac: str) -> Any:
        try:
            beacon = parse_mac(mac)
        except BadRequest as exc:
            return error(web, 400, str(exc))

        async def answer() -> Any:
            size = settings.rssi_window_seconds
            windows = []
            for key in aggs.rssi_windows.keys_of(beacon):
                value = public(aggs.rssi_windows.get(key))
                if value is not None and group_of(key) == beacon:
                    windows.append(agg.rssi_window_view(value, float(key.rsplit("|", 1)[1]), size))
            if not windows:
                return error(web, 404, f"no RSSI samples of {beacon}")
            windows.sort(key=lambda w: w["start"])
            return web.json({"mac": beacon, "windows": windows})

        return await owned(aggs.rssi_windows, beacon, web, request, answer)

    @page("/v1/devices/{mac}/status")
    async def device(web: Any, request: Any, mac: str) -> Any:
        try:
            device_mac = parse_mac(mac)
        except BadRequest as exc:
            return error(web, 400, str(exc))

        async def answer() -> Any:
            status = public(aggs.devices.get(device_mac))
            if status is None:
                return error(web, 404, f"no status of device {device_mac}")
            return web.json(agg.device_view(status))

        return await owned(aggs.devices, device_mac, web, request, answer)
