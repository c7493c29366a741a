"""Device up/down status: the newest event by event time that says something about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.aggregates.base import OneState
from pipeline.aggregates.order import nullable

DEVICE_TOPICS = frozenset({"device-updowns", "device-events"})

# -- devices ---------------------------------------------------------------------------------------------
#
# Status mapping, conservative: only events about the device itself change its status. With <D> one of AP,
# SW, GW (the device kinds of device-updowns / device-events):
#   down: <D>_DISCONNECTED, <D>_DISCONNECTED_<anything> (e.g. AP_DISCONNECTED_LONG), <D>_DOWN
#   up:   <D>_CONNECTED, <D>_RECONNECTED, <D>_RESTARTED
# Everything else says nothing about up/down (None): ports and interfaces (SW_PORT_DOWN, AP_UPLINK_PORT_DOWN),
# neighbours and tunnels (GW_BGP_NEIGHBOR_DOWN, GW_VPN_PATH_DOWN, GW_TUNNEL_DOWN), configuration, upgrades,
# and commands not yet carried out (AP_RESTART_BY_USER). Types are matched case-insensitively.

_DEVICE_KINDS = ("AP", "SW", "GW")
_DEVICE_STATUS = {
    f"{kind}_{word}": status
    for kind in _DEVICE_KINDS
    for word, status in (
        ("DISCONNECTED", "down"),
        ("DOWN", "down"),
        ("CONNECTED", "up"),
        ("RECONNECTED", "up"),
        ("RESTARTED", "up"),
    )
}
_DISCONNECTED_PREFIXES = tuple(f"{kind}_DISCONNECTED_" for kind in _DEVICE_KINDS)
# At equal event times: an event with status beats one without, and "up" beats "down" (a device that
# disconnected and reconnected within one second is up). Then the type string.
_STATUS_RANK = {None: 0, "down": 1, "up": 2}
DEVICE_FIELDS = ("mac", "status", "last_type", "timestamp")


def device_mac(event: Mapping[str, Any]) -> str | None:
    """The device: `mac`, else `ap` (the deprecated AP-only spelling of device-updowns)."""
    return event.get("mac") or event.get("ap")


def device_status(event_type: str | None) -> str | None:
    """ "up", "down", or None when the event type says nothing about the device's status (see the mapping
    above)."""
    if not event_type:
        return None
    upper = event_type.upper()
    status = _DEVICE_STATUS.get(upper)
    if status is None and upper.startswith(_DISCONNECTED_PREFIXES):
        return "down"
    return status


def _device_order(ts: float | None, event_type: str | None) -> tuple:
    return (nullable(ts), _STATUS_RANK[device_status(event_type)], event_type or "")


def apply_device_event(old: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The device's new status value, or None when `event` changes nothing.

    Value: {mac, status, last_type, timestamp, status_ts, status_type}. `last_type`/`timestamp` are those of
    the newest event by event time (equal times: status events first, "up" over "down", then the type).
    `status` ("up" | "down" | "unknown") comes from the newest event that says something about it: an event
    that says nothing carries the status over, and a first such event gives "unknown". `status_ts` and
    `status_type` record which event set the status: with them a late status event older than the newest
    event, but newer than the one that set the status, still counts, so the value is the same for any
    arrival order. None when the event is neither newer than the newest event nor (with a status) newer than
    the status event: older events and duplicates. The query API shows DEVICE_FIELDS (see `device_view`).
    """
    ts = float(event["timestamp"])
    event_type = event.get("type")
    status = device_status(event_type)
    order = _device_order(ts, event_type)
    if old is None:
        return {
            "mac": device_mac(event),
            "status": status or "unknown",
            "last_type": event_type,
            "timestamp": ts,
            "status_ts": ts if status else None,
            "status_type": event_type if status else None,
        }
    newest = order > _device_order(old["timestamp"], old["last_type"])
    sets_status = status is not None and (
        old.get("status_ts") is None or order > _device_order(old["status_ts"], old.get("status_type"))
    )
    if not newest and not sets_status:
        return None
    return {
        "mac": old.get("mac") or device_mac(event),
        "status": status if sets_status else old["status"],
        "last_type": event_type if newest else old["last_type"],
        "timestamp": ts if newest else old["timestamp"],
        "status_ts": ts if sets_status else old.get("status_ts"),
        "status_type": event_type if sets_status else old.get("status_type"),
    }


def device_view(value: Mapping[str, Any]) -> dict[str, Any]:
    """What GET /v1/devices/{mac}/status answers: {mac, status, last_type, timestamp}."""
    return {f: value.get(f) for f in DEVICE_FIELDS}


class Devices(OneState):
    """The up/down status of every device of a site (or org), per partition, by device MAC."""

    topics = DEVICE_TOPICS

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        mac = device_mac(event)
        if mac is None or event.get("timestamp") is None:
            return
        updated = apply_device_event(self.state.get(partition, mac), event)
        if updated is not None:
            self.state.put(partition, mac, updated, wall)
