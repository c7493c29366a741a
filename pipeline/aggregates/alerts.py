"""Zone occupancy alerts: the newest alert per zone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.aggregates.base import OneState
from pipeline.aggregates.order import newer

# -- occupancy alerts ------------------------------------------------------------------------------------

ALERT_FIELDS = (
    "zone_id",
    "zone_name",
    "map_id",
    "site_id",
    "type",
    "current_occupancy",
    "occupancy_limit",
    "timestamp",
)
_ALERT_ORDER = (
    "timestamp",
    "type",
    "current_occupancy",
    "occupancy_limit",
    "zone_name",
    "map_id",
    "site_id",
    "zone_id",
)


def occupancy_alerts(event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(zone_id, alert) per item of an occupancy-alerts event's `alert_events`; `type` as Mist spells it
    (COMPLIANCE-OK / COMPLIANCE-VIOLATION), `site_id` from the event. Items without a zone are skipped."""
    site_id = event.get("site_id")
    out = []
    for item in event.get("alert_events") or ():
        zone_id = item.get("zone_id")
        if not zone_id:
            continue
        ts = item.get("timestamp")
        out.append(
            (
                zone_id,
                {
                    "zone_id": zone_id,
                    "zone_name": item.get("zone_name"),
                    "map_id": item.get("map_id"),
                    "site_id": item.get("site_id") or site_id,
                    "type": item.get("type"),
                    "current_occupancy": item.get("current_occupancy"),
                    "occupancy_limit": item.get("occupancy_limit"),
                    "timestamp": float(ts) if ts is not None else None,
                },
            )
        )
    return out


def newer_alert(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when `new` replaces `old`: the newest by timestamp; ties broken on the content (type, then the
    counts), so the winner does not depend on arrival order; an identical alert is not newer."""
    return newer(old, new, _ALERT_ORDER)


class Alerts(OneState):
    """The newest occupancy alert of every zone of a site, per partition, by zone id. Mist batches a site's
    alerts into one event; the zones are the site's, so they stay on the site's partition."""

    topics = frozenset({"occupancy-alerts"})

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        for zone_id, alert in occupancy_alerts(event):
            if newer_alert(self.state.get(partition, zone_id), alert):
                self.state.put(partition, zone_id, alert, wall)
