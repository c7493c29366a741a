"""Where each client, asset and SDK client is: the newest location by event time, per entity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.aggregates.base import OneState
from pipeline.aggregates.order import newer
from pipeline.state import State

LOCATION_TOPICS = frozenset(
    {"location", "location-asset", "location-client", "location-unclient", "location-sdk", "location-centrak"}
)


# `type` when the event has none: location-sdk carries SDK clients, location-asset BLE assets, location-client
# and -unclient Wi-Fi clients. location-centrak (Wi-Fi tags) and location (type required) get no default.
_LOCATION_DEFAULT_TYPE = {
    "location-sdk": "sdk",
    "location-asset": "asset",
    "location-client": "wifi",
    "location-unclient": "wifi",
}
LOCATION_FIELDS = (
    "key",
    "type",
    "site_id",
    "site_name",
    "map_id",
    "map_name",
    "x",
    "y",
    "x_px",
    "y_px",
    "timestamp",
)
# Tie-break order of newer_location: event time, then position, then everything else, so that two records
# win the same way whatever order they arrive in (equal keys mean equal records).
_LOCATION_ORDER = (
    "timestamp",
    "x",
    "y",
    "map_id",
    "x_px",
    "y_px",
    "site_id",
    "type",
    "map_name",
    "site_name",
)


def location_key(event: Mapping[str, Any]) -> str:
    """The located entity: the client/asset `mac`, else the SDK client's `id` (SDK clients have no MAC).
    Raises ValueError when the event has neither (parsing guarantees one on every location topic)."""
    mac = event.get("mac")
    if mac:
        return mac
    ident = event.get("id")
    if ident:
        return str(ident)
    raise ValueError("a location event needs a `mac` or an SDK `id`")


def location_record(mist_topic: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The last-known-location value of an enriched location event: exactly the fields of LOCATION_FIELDS.

    `type` is the event's, else the topic's default (location-sdk "sdk", location-asset "asset",
    location-client/-unclient "wifi"; None otherwise). Site and map names come from the enrichment; the ids
    from the event, else from the enrichment. Missing values are None; x/y are meters, x_px/y_px pixels.
    """
    site = event.get("site") or {}
    map_ = event.get("map") or {}
    timestamp = event.get("timestamp")
    return {
        "key": location_key(event),
        "type": event.get("type") or _LOCATION_DEFAULT_TYPE.get(mist_topic),
        "site_id": event.get("site_id") or site.get("id"),
        "site_name": site.get("name") or event.get("site_name"),
        "map_id": event.get("map_id") or map_.get("id"),
        "map_name": map_.get("name"),
        "x": event.get("x"),
        "y": event.get("y"),
        "x_px": event.get("x_px"),
        "y_px": event.get("y_px"),
        "timestamp": float(timestamp) if timestamp is not None else None,
    }


def newer_location(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when `new` should replace `old`: the newest by event time wins. Ties (equal timestamps) are broken
    by (x, y, map_id, then the other fields) so the winner never depends on arrival order; an identical
    record is not newer (False). A record without a timestamp loses to any that has one."""
    return newer(old, new, _LOCATION_ORDER)


class Locations(OneState):
    """The last location of every entity of a site, per partition; entities by map, for the floor and
    `/v1/maps/{id}/locations`."""

    topics = LOCATION_TOPICS

    def __init__(self, state: State) -> None:
        super().__init__(state)
        state.on_change = self._index_map
        self.by_map: dict[str, set[tuple[int, str]]] = {}  # map id -> (partition, entity)
        self._map_of: dict[tuple[int, str], str] = {}

    def _index_map(self, partition: int, key: str, value: Any) -> None:
        slot = (partition, key)
        map_id = value.get("map_id") if value is not None else None
        if map_id and self._map_of.get(slot) == map_id:
            return  # on the same map as before: the common case
        old = self._map_of.pop(slot, None)
        if old is not None:
            members = self.by_map.get(old)
            if members is not None:
                members.discard(slot)
                if not members:
                    del self.by_map[old]
        if map_id:
            self._map_of[slot] = map_id
            self.by_map.setdefault(map_id, set()).add(slot)

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        if not (event.get("mac") or event.get("id")):
            return  # valid for its model (an empty `id`), but no one to locate
        record = location_record(mist_topic, event)
        key = record["key"]
        if newer_location(self.state.get(partition, key), record):
            self.state.put(partition, key, record, wall)
