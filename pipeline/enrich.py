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


def enrich(
    mist_topic: str,
    event: dict[str, Any],
    sites: Reference,
    maps: Reference,
    zones: Reference,
) -> tuple[dict[str, Any], list[str]]:
    """The event plus `site`, `map`, `zone` (where it names one) and `x_px`/`y_px` (where it has x/y and
    its map has a ppm). Returns the enriched fields and what it names but the reference data lacks."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    site_id = event.get("site_id")
    if site_id:
        site = sites.get(site_id)
        if site is None:
            missing.append("site")
        else:
            out["site"] = site_info(site)
    map_id = event.get("map_id")
    if map_id:
        map_ = maps.get(map_id)
        if map_ is None:
            missing.append("map")
        else:
            out["map"] = map_info(map_)
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
            out["zone"] = zone_info(zone)
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
