"""The query API on the worker's web port: read-only JSON over the aggregates (routing.py says who answers).

A zone's or a map's answer is on the worker owning its site's partition; a MAC's or an SDK id's may be on any
(an entity can be seen in two sites), so every worker is asked (`/v1/local/...`) and the answers merged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from faust.web import Blueprint

from mistpipe.settings import Settings
from pipeline.aggregates import Aggregates
from pipeline.aggregates.devices import device_view
from pipeline.reference import ReferenceData
from pipeline.routing import Cluster
from pipeline.state import public
from topics.models.common import normalise_mac

MAX_ID = 128


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


def newest_by_key(answers: Iterable[Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Location lists merged: one record per entity key, the newest by event time (two partitions may both
    hold a key: an entity seen in two sites, or a rebalance moving it), sorted by key."""
    newest: dict[str, dict[str, Any]] = {}
    for record in (r for answer in answers for r in answer):
        held = newest.get(record["key"])
        if held is None or (record.get("timestamp") or 0) > (held.get("timestamp") or 0):
            newest[record["key"]] = record
    return [newest[key] for key in sorted(newest)]


def merge_windows(answers: Iterable[Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """RSSI windows of one emitter from several partitions: one per start, the APs of each together."""
    by_start: dict[float, dict[str, Any]] = {}
    for window in (w for answer in answers for w in answer):
        held = by_start.get(window["start"])
        if held is None:
            by_start[window["start"]] = {**window, "aps": dict(window["aps"])}
        else:
            held["aps"].update(window["aps"])
    return [by_start[start] for start in sorted(by_start)]


class Views:
    """What each worker answers from the partitions it owns (the `/v1/local/...` pages, and the owner's)."""

    def __init__(self, settings: Settings, aggs: Aggregates, refs: ReferenceData) -> None:
        self.settings, self.aggs, self.refs = settings, aggs, refs

    def owned(self) -> frozenset[int]:
        return self.aggs.locations.state.owned

    def locations_of(self, entity: str) -> list[dict[str, Any]]:
        state = self.aggs.locations.state
        return [public(v) for p in self.owned() if (v := state.get(p, entity)) is not None]

    def map_locations(self, map_id: str, since: float) -> list[dict[str, Any]]:
        state = self.aggs.locations.state
        found = []
        for partition, key in sorted(self.aggs.locations.by_map.get(map_id, ())):
            record = public(state.get(partition, key))
            if (
                record is not None
                and record.get("map_id") == map_id
                and (record.get("timestamp") or 0) >= since
            ):
                found.append(record)
        return found

    def zone_site(self, zone_id: str) -> str | None:
        ref = self.refs.zones.get(zone_id) or {}
        return ref.get("site_id") or (self.aggs.zones.seen.get(zone_id) or {}).get("site_id")

    def zone_info(self, zone_id: str) -> dict[str, Any]:
        ref = self.refs.zones.get(zone_id) or {}
        seen = self.aggs.zones.seen.get(zone_id) or {}
        return {
            "zone_name": ref.get("name") or seen.get("name"),
            "site_id": ref.get("site_id") or seen.get("site_id"),
        }

    def occupancy(self, zone_id: str) -> dict[str, Any] | None:
        """The zone's members inside, from the partitions held here; None when nothing here knows it."""
        members: list[dict[str, Any]] = []
        ignored, known, alert = 0, False, None
        for partition in self.owned():
            inside, exits, held = self.aggs.zones.occupancy(partition, zone_id)
            members += inside
            ignored += exits
            known = known or held
            alert = alert or public(self.aggs.alerts.state.get(partition, zone_id))
        if not (known or alert or zone_id in self.refs.zones):
            return None
        members.sort(key=lambda m: m["member"])
        body = {"zone_id": zone_id, **self.zone_info(zone_id), "count": len(members), "members": members}
        body.update(exits_ignored=ignored, alert=alert)
        return body

    def visits(self, zone_id: str) -> dict[str, Any] | None:
        windows: list[dict[str, Any]] = []
        known = zone_id in self.refs.zones
        for partition in self.owned():
            windows += self.aggs.zones.visit_windows(partition, zone_id)
            known = known or bool(self.aggs.zones.members.keys_of(partition, zone_id))
        if not (windows or known):
            return None
        windows.sort(key=lambda w: w["start"])
        return {"zone_id": zone_id, "windows": windows}

    def rssi_windows(self, mac: str) -> list[dict[str, Any]]:
        return merge_windows(self.aggs.rssi.windows(p, mac) for p in self.owned())

    def device(self, mac: str) -> dict[str, Any] | None:
        state = self.aggs.devices.state
        found = [v for p in self.owned() if (v := state.get(p, mac)) is not None]
        newest = max(found, key=lambda v: v.get("timestamp") or 0, default=None)
        return device_view(newest) if newest is not None else None


def since_of(request: Any, settings: Settings) -> float:
    given = request.query.get("since")
    if given is not None:
        try:
            return float(given)
        except ValueError:
            raise BadRequest("since: expected epoch seconds") from None
    return time.time() - settings.presence_seconds


def blueprint(settings: Settings, cluster: Cluster, views: Views) -> Blueprint:
    """The query API: `/v1/...`, and the `/v1/local/...` pages that the other workers ask."""
    queries = Blueprint("queries")
    page = cluster.pages(queries)

    def error(web: Any, status: int, message: str) -> Any:
        return web.json({"error": message}, status=status)

    async def by_zone(web: Any, request: Any, zone_id: str, local: Any, path: str) -> Any:
        """Answer a zone's query: here if this worker owns the zone's site, else the owner's answer; a zone
        whose site nobody knows yet is looked for everywhere."""
        site = views.zone_site(zone_id)
        if site is not None:
            owner = cluster.owner_of(site)
            if owner != cluster.me:
                return await cluster.forward(web, request, owner)
            body = local(zone_id)
        else:
            answers = await cluster.fan_out(request, path, lambda: {"found": local(zone_id)})
            body = next((a["found"] for a in answers if a.get("found") is not None), None)
        if body is None:
            return error(web, 404, f"unknown zone {zone_id}")
        return web.json(body)

    @page("/v1/locations/{key}")
    async def location(web: Any, request: Any, key: str) -> Any:
        try:
            entity = parse_entity(key)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        answers = await cluster.fan_out(
            request, f"/v1/local/locations/{entity}", lambda: {"locations": views.locations_of(entity)}
        )
        found = newest_by_key(a["locations"] for a in answers)
        if not found:
            return error(web, 404, f"no location for {entity}")
        return web.json(found[0])

    @page("/v1/local/locations/{key}")
    async def local_location(web: Any, request: Any, key: str) -> Any:
        return web.json({"locations": views.locations_of(key)})

    @page("/v1/local/maps/{map_id}/locations")
    async def local_map(web: Any, request: Any, map_id: str) -> Any:
        try:
            since = since_of(request, settings)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        return web.json({"map_id": map_id, "locations": views.map_locations(map_id, since)})

    @page("/v1/maps/{map_id}/locations")
    async def map_locations(web: Any, request: Any, map_id: str) -> Any:
        try:
            since = since_of(request, settings)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        answers = await cluster.fan_out(
            request,
            f"/v1/local/maps/{map_id}/locations",
            lambda: {"locations": views.map_locations(map_id, since)},
            {"since": str(since)},
        )
        found = newest_by_key(a["locations"] for a in answers)
        if not found and map_id not in views.refs.maps:
            return error(web, 404, f"unknown map {map_id}")
        return web.json({"map_id": map_id, "locations": found})

    @page("/v1/zones/{zone_id}/occupancy")
    async def occupancy(web: Any, request: Any, zone_id: str) -> Any:
        return await by_zone(web, request, zone_id, views.occupancy, f"/v1/local/zones/{zone_id}/occupancy")

    @page("/v1/local/zones/{zone_id}/occupancy")
    async def local_occupancy(web: Any, request: Any, zone_id: str) -> Any:
        return web.json({"found": views.occupancy(zone_id)})

    @page("/v1/zones/{zone_id}/visits")
    async def visits(web: Any, request: Any, zone_id: str) -> Any:
        return await by_zone(web, request, zone_id, views.visits, f"/v1/local/zones/{zone_id}/visits")

    @page("/v1/local/zones/{zone_id}/visits")
    async def local_visits(web: Any, request: Any, zone_id: str) -> Any:
        return web.json({"found": views.visits(zone_id)})

    @page("/v1/rssi/{mac}")
    async def rssi(web: Any, request: Any, mac: str) -> Any:
        try:
            beacon = parse_mac(mac)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        answers = await cluster.fan_out(
            request, f"/v1/local/rssi/{beacon}", lambda: {"windows": views.rssi_windows(beacon)}
        )
        windows = merge_windows(a["windows"] for a in answers)
        if not windows:
            return error(web, 404, f"no RSSI samples of {beacon}")
        return web.json({"mac": beacon, "windows": windows})

    @page("/v1/local/rssi/{mac}")
    async def local_rssi(web: Any, request: Any, mac: str) -> Any:
        return web.json({"windows": views.rssi_windows(mac)})

    @page("/v1/devices/{mac}/status")
    async def device(web: Any, request: Any, mac: str) -> Any:
        try:
            device_mac = parse_mac(mac)
        except BadRequest as exc:
            return error(web, 400, str(exc))
        answers = await cluster.fan_out(
            request, f"/v1/local/devices/{device_mac}", lambda: {"status": views.device(device_mac)}
        )
        found = [a["status"] for a in answers if a.get("status") is not None]
        if not found:
            return error(web, 404, f"no status of device {device_mac}")
        return web.json(max(found, key=lambda s: s.get("timestamp") or 0))

    @page("/v1/local/devices/{mac}")
    async def local_device(web: Any, request: Any, mac: str) -> Any:
        return web.json({"status": views.device(mac)})

    return queries
