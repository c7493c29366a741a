"""The live floor map: a page the worker serves (`GET /`, `GET /map`) and the read-only JSON it reads.

The page is plain HTML, CSS and a small script (pipeline/static/), no build step. It holds no data: it is
served without the query token, and reads everything from the query API with it (the user gives the token
once, in the page or as `#token=...` in its URL, which never reaches a server or a log). Beside the query
API of views.py it reads:

- `GET /v1/sites`: `{sites: [{id, name, timezone, country_code, maps: [map ids]}]}`, from the reference data;
- `GET /v1/maps[?site_id=]`: `{maps: [{id, name, site_id, ppm, width, height, width_m, height_m, url}]}`;
- `GET /v1/maps/{map_id}`: the map, its site and its zones `[{id, name, vertices (pixels), occupancy,
  members, visits}]`, where `occupancy`/`members` are what `/v1/zones/{id}/occupancy` answers and `visits`
  the window of `/v1/zones/{id}/visits` that holds now (zeros when it has none);
- `GET /v1/rssi[?since=]`: `{emitters: [{mac, start, end, count, aps, strongest: {ap, mean, count, last}}]}`:
  every beacon or client with an RSSI window ending after `since` (default `MISTPIPE_PRESENCE_SECONDS`
  ago), from its newest window; `strongest` is the AP with the highest mean RSSI.

Reference data is on every worker. Zone answers come from `/v1/zones/...` itself, so the page shows what
the API answers, from whichever worker owns the zone's site. RSSI windows are spread over every worker's
partitions: `/v1/rssi` asks every worker (`/v1/local/rssi`) and merges (routing.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from faust.web import Blueprint

from mistpipe.settings import Settings
from pipeline.routing import Cluster, Unavailable
from pipeline.state import public, suffix_of
from pipeline.views import Views

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
NO_CACHE = {"Cache-Control": "no-cache"}
MAP_FIELDS = ("id", "name", "site_id", "ppm", "width", "height", "width_m", "height_m", "url", "orientation")


def map_view(map_: dict[str, Any]) -> dict[str, Any]:
    """A map as the page needs it: size in pixels and meters, ppm, image URL."""
    out = {f: map_.get(f) for f in MAP_FIELDS}
    ppm = out["ppm"]
    if ppm:
        if out["width_m"] is None and out["width"]:
            out["width_m"] = out["width"] / ppm
        if out["height_m"] is None and out["height"]:
            out["height_m"] = out["height"] / ppm
    return out


def strongest(aps: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The AP that hears an emitter best in a window: the highest mean RSSI (ties: the lower MAC)."""
    best = None
    for ap in sorted(aps):
        stats = aps[ap]
        if not stats.get("count"):
            continue
        mean = stats["sum"] / stats["count"]
        if best is None or mean > best["mean"]:
            best = {"ap": ap, "mean": round(mean, 1), "count": stats["count"], "last": stats["last"]}
    return best


def emitter_summary(mac: str, start: float, size: float, window: dict[str, Any]) -> dict[str, Any]:
    aps = {ap: s for ap, s in window.items() if isinstance(s, dict)}
    return {
        "mac": mac,
        "start": start,
        "end": start + size,
        "count": sum(s.get("count", 0) for s in aps.values()),
        "aps": len(aps),
        "strongest": strongest(aps),
    }


def current_window(windows: list[dict[str, Any]], now: float, size: float) -> dict[str, Any]:
    """The visit window holding `now`, or an empty one."""
    for window in windows:
        if window["start"] <= now < window["end"]:
            return window
    start = float(int(now // size) * size)
    return {"start": start, "end": start + size, "visits": 0, "dwell_total_s": 0.0, "dwell_max_s": 0.0}


def blueprint(settings: Settings, cluster: Cluster, views: Views) -> Blueprint:
    """The live floor map: its page and files, and the queries that only it uses."""
    floor = Blueprint("floor")
    refs, aggs = views.refs, views.aggs
    files = {
        p.name: (p.read_bytes(), CONTENT_TYPES[p.suffix])
        for p in STATIC.iterdir()
        if p.suffix in CONTENT_TYPES
    }

    def error(web: Any, status: int, message: str, headers: dict | None = None) -> Any:
        return web.json({"error": message}, status=status, headers=headers)

    page = cluster.pages(floor)  # as every query of views.py

    # -- the page ------------------------------------------------------------------------------------------
    # Registered before Faust's own index (a blueprint added when the web server starts), so "/" is ours.

    @floor.route("/")
    async def index(web: Any, request: Any) -> Any:
        return web.bytes(files["map.html"][0], content_type="text/html", headers=NO_CACHE)

    @floor.route("/map")
    async def floor_map(web: Any, request: Any) -> Any:
        return web.bytes(files["map.html"][0], content_type="text/html", headers=NO_CACHE)

    @floor.route("/static/{name}")
    async def static(web: Any, request: Any, name: str) -> Any:
        found = files.get(name)
        if found is None:
            return error(web, 404, f"no file {name}")
        return web.bytes(found[0], content_type=found[1], headers=NO_CACHE)

    # -- reference data: on every worker -------------------------------------------------------------------

    @page("/v1/sites")
    async def sites(web: Any, request: Any) -> Any:
        maps_of: dict[str, list[str]] = {}
        for map_id, map_ in sorted(refs.maps.items()):
            maps_of.setdefault(map_.get("site_id"), []).append(map_id)
        out = [
            {
                "id": site_id,
                "name": site.get("name"),
                "timezone": site.get("timezone"),
                "country_code": site.get("country_code"),
                "maps": maps_of.get(site_id, []),
            }
            for site_id, site in refs.sites.items()
        ]
        # Maps of sites the reference data lacks still get a (nameless) site, so the page can show them.
        known = set(refs.sites)
        out += [
            {"id": s, "name": None, "timezone": None, "country_code": None, "maps": m}
            for s, m in maps_of.items()
            if s not in known and s
        ]
        return web.json({"sites": sorted(out, key=lambda s: (s["name"] or "", s["id"]))})

    @page("/v1/maps")
    async def maps(web: Any, request: Any) -> Any:
        site_id = request.query.get("site_id")
        found = [map_view(m) for m in refs.maps.values() if site_id is None or m.get("site_id") == site_id]
        return web.json({"maps": sorted(found, key=lambda m: (m["name"] or "", m["id"]))})

    # -- a map with its zones, their occupancy and visits --------------------------------------------------

    async def ask(request: Any, path: str) -> Any:
        """GET a query of this worker's API (which forwards to the zone's owner): the JSON answer."""
        status, body = await cluster.get(cluster.me + path, request)
        if status != 200:
            raise Unavailable(f"a worker did not answer {path} ({status}); retry")
        return body

    async def zone_view(request: Any, zone: dict[str, Any], now: float) -> dict[str, Any]:
        occupancy, visits = await asyncio.gather(
            ask(request, f"/v1/zones/{zone['id']}/occupancy"), ask(request, f"/v1/zones/{zone['id']}/visits")
        )
        return {
            "id": zone["id"],
            "name": zone.get("name"),
            "vertices": zone.get("vertices") or [],
            "occupancy": occupancy["count"],
            "members": occupancy["members"],
            "exits_ignored": occupancy.get("exits_ignored", 0),
            "alert": occupancy.get("alert"),
            "visits": current_window(visits["windows"], now, settings.visit_window_seconds),
        }

    @page("/v1/maps/{map_id}")
    async def map_detail(web: Any, request: Any, map_id: str) -> Any:
        map_ = refs.maps.get(map_id)
        if map_ is None:
            return error(web, 404, f"unknown map {map_id}")
        site = refs.sites.get(map_.get("site_id")) or {}
        zones = sorted(
            (z for z in refs.zones.values() if z.get("map_id") == map_id and z.get("id")),
            key=lambda z: (z.get("name") or "", z["id"]),
        )
        now = time.time()
        # Zeros in place of an unanswered zone would look like everyone left: Unavailable says so (503).
        answers = await asyncio.gather(*(zone_view(request, z, now) for z in zones))
        body = {
            **map_view(map_),
            "site": {"id": map_.get("site_id"), "name": site.get("name"), "timezone": site.get("timezone")},
            "visit_window_seconds": settings.visit_window_seconds,
            "zones": list(answers),
            "time": now,
        }
        return web.json(body)

    # -- RSSI emitters: spread over every worker -----------------------------------------------------------

    def local_emitters(since: float) -> list[dict[str, Any]]:
        size = settings.rssi_window_seconds
        state = aggs.rssi.state
        found = []
        for partition in state.owned:
            for mac in list(state.groups(partition)):
                latest = max(state.keys_of(partition, mac), key=lambda k: float(suffix_of(k)), default=None)
                value = public(state.get(partition, latest)) if latest is not None else None
                start = float(suffix_of(latest)) if latest is not None else 0.0
                if value is not None and start + size >= since:
                    found.append(emitter_summary(mac, start, size, value))
        return found

    def since_of(request: Any) -> float:
        given = request.query.get("since")
        return float(given) if given is not None else time.time() - settings.presence_seconds

    @page("/v1/local/rssi")
    async def local_rssi(web: Any, request: Any) -> Any:
        try:
            since = since_of(request)
        except ValueError:
            return error(web, 400, "since: expected epoch seconds")
        return web.json({"emitters": local_emitters(since)})

    @page("/v1/rssi")
    async def rssi_list(web: Any, request: Any) -> Any:
        try:
            since = since_of(request)
        except ValueError:
            return error(web, 400, "since: expected epoch seconds")
        answers = await cluster.fan_out(
            request, "/v1/local/rssi", lambda: {"emitters": local_emitters(since)}, {"since": str(since)}
        )
        found = [e for answer in answers for e in answer["emitters"]]
        return web.json({"emitters": sorted(found, key=lambda e: e["mac"])})

    return floor
