"""Device topics: events and up/down transitions of APs, switches, gateways and Mist Edges."""

from __future__ import annotations

from topics.models.common import Mac, MistEnum, MistEvent, Timestamp


class DeviceType(MistEnum):
    """Spec: webhook_device_events_event_device_type."""

    AP = "ap"
    GATEWAY = "gateway"
    SWITCH = "switch"


class EvType(MistEnum):
    """Spec: webhook_device_events_event_ev_type; real payloads send ``NOTICE``."""

    NOTICE = "notice"
    WARN = "warn"


class DeviceEventsEvent(MistEvent):
    """``device-events`` (spec: webhook_device_events_event).

    ``type`` (AP_RESTARTED, SW_PORT_DOWN, ...) is an open list. The spec requires ``ev_type``; real switch
    events omit it, so it is optional. ``ap``/``ap_name`` are deprecated spellings of ``mac``/``device_name``.
    """

    ap: Mac | None = None
    ap_name: str | None = None
    audit_id: str | None = None
    device_name: str | None = None
    device_type: DeviceType | None = None
    ev_type: EvType | None = None
    mac: Mac | None = None
    org_id: str | None = None
    reason: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    text: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None


class DeviceUpdownsEvent(MistEvent):
    """``device-updowns`` (spec: webhook_device_updowns_event): AP_CONNECTED, AP_DISCONNECTED, ...

    The spec describes APs only (``ap``, ``ap_name`` required). Switches and gateways report up/downs with
    ``mac``/``device_name``/``device_type`` instead: ``ap``/``ap_name`` are optional, and those declared.
    """

    ap: Mac | None = None
    ap_name: str | None = None
    device_name: str | None = None
    device_type: DeviceType | None = None
    for_site: bool | None = None
    mac: Mac | None = None
    org_id: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None


class MxedgeEventsEvent(MistEvent):
    """``mxedge-events`` (no sample): Mist Edge events; org-level. Mist's example sends a string timestamp."""

    audit_id: str | None = None
    mxedge_id: str | None = None
    mxedge_name: str | None = None
    org_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None
