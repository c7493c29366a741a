"""Enrich: add site, map and zone reference data to a parsed event. Pure functions over plain mappings.

Reference objects are what Mist's API returns (GET /orgs/:org_id/sites, /sites/:site_id/maps,
/sites/:site_id/zones). Webhook x/y are meters and map `ppm` is pixels per meter, so x_px = x * ppm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Reference = Mapping[str, Mapping[str, Any]]


def site_info(site: Mapping[str, Any]) -> dict[str, Any]:
    latlng = site.get("latlng") or {}
    return {
        "id": site.get("id"),
        "name": site.get("name"),
        "timezone": site.get("timezone"),
        "country_code": site.get("country_code"),
        "lat": latlng.get("lat"),
        "lng": latlng.get("lng"),
    }


def map_info(map_: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": map_.get("id"),
        "name": map_.get("name"),
        "ppm": map_.get("ppm"),
        "width": map_.get("width"),  # pixels
        "height": map_.get("height"),
        "width_m": map_.get("width_m"),
        "height_m": map_.get("height_m"),
    }


def zone_info(zone: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": zone.get("id"), "name": zone.get("name")}


class Infos:
    """The summaries of reference objects, made once per object: an event of a busy site would otherwise
    build the same site, map and zone summaries again and again. An object replaced (a renamed site) is
    summarised anew: summaries are kept with the object they were made from."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], tuple[Mapping[str, Any], dict[str, Any]]] = {}

    def of(self, kind: str, id_: str, obj: Mapping[str, Any], make: Any) -> dict[str, Any]:
        made = self._made.get((kind, id_))
        if made is None or made[0] is not obj:
            made = self._made[(kind, id_)] = (obj, make(obj))
        return made[1]


def enrich(
    mist_topic: str,
    event: dict[str, Any],
    sites: Reference,
    maps: Reference,
    zones: Reference,
    infos: Infos | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The event plus `site`, `map`, `zone` (where it names one) and `x_px`/`y_px` (where it has x/y and
    its map has a ppm). Returns the enriched fields and what it names but the reference data lacks. With
    `infos`, the summaries are shared (do not change them)."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    site_id = event.get("site_id")
    if site_id:
        site = sites.get(site_id)
        if site is None:
            missing.append("site")
        else:
            out["site"] = infos.of("site", site_id, site, site_info) if infos else site_info(site)
    map_id = event.get("map_id")
    if map_id:
        map_ = maps.get(map_id)
        if map_ is None:
            missing.append("map")
        else:
            out["map"] = infos.of("map", map_id, map_, map_info) if infos else map_info(map_)
            ppm = map_.get("ppm")
            x, y = event.get("x"), event.get("y")
            if ppm and x is not None and y is not None:
                out["x_px"] = x * ppm
                out["y_px"] = y * ppm
    zone_id = event.get("zone_id")
    if zone_id:
        zone = zones.get(zone_id)
        if zone is None:
            missing.append("zone")
        else:
            out["zone"] = infos.of("zone", zone_id, zone, zone_info) if infos else zone_info(zone)
    return out, missing


def envelope(
    mist_topic: str,
    event: dict[str, Any],
    extra: dict[str, Any],
    missing: list[str],
    source: dict[str, Any],
    received_at_ms: int | None,
    warnings: list[dict[str, str]],
    original: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of `mist.<topic>.enriched` (topics.records.enriched_model): the event, its enrichment,
    and `mist`, where it came from and what it lacks."""
    provenance: dict[str, Any] = {
        "topic": mist_topic,
        "enriched": not missing,
        "missing": missing,
        "source": source,
        "received_at_ms": received_at_ms,
        "warnings": warnings,
    }
    if original:
        provenance["original"] = original
    return {**event, **extra, "mist": provenance}
