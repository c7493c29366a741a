"""Zone topics: enter/exit of zones and RSSI zones, and zone occupancy alerts."""

from __future__ import annotations

from pydantic import Field

from topics.models.common import ClientType, Mac, MistEnum, MistEvent, Timestamp, ZoneTrigger


class ZoneEvent(MistEvent):
    """``zone`` (spec: webhook_zone_event).

    The spec lists ``id`` as required, but it is the SDK client's id and only sdk events carry it; Wi-Fi and
    asset events carry ``mac`` (and assets ``asset_id``). So every client identity is optional here.
    """

    asset_id: str | None = None
    id: str | None = None
    mac: Mac | None = None
    map_id: str | None = None
    name: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    trigger: ZoneTrigger | None = None
    type: ClientType | None = None
    zone_id: str | None = None


class RssizoneEvent(MistEvent):
    """``rssizone``: enter/exit of an RSSI zone (zone defined by signal strength, not a polygon)."""

    mac: Mac | None = None
    map_id: str | None = None
    rssizone_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    trigger: ZoneTrigger | None = None
    type: ClientType | None = None


class OccupancyAlertType(MistEnum):
    """Spec: webhook_occupancy_alert_type; Mist spells these in uppercase."""

    COMPLIANCE_OK = "COMPLIANCE-OK"
    COMPLIANCE_VIOLATION = "COMPLIANCE-VIOLATION"


class OccupancyAlert(MistEvent):
    """One zone's alert inside an ``occupancy-alerts`` event (spec: ..._alert_events_items)."""

    current_occupancy: int | None = None
    map_id: str | None = None
    occupancy_limit: int | None = None
    org_id: str | None = None
    timestamp: Timestamp | None = None
    type: OccupancyAlertType | None = None
    zone_id: str | None = None
    zone_name: str | None = None


class OccupancyAlertsEvent(MistEvent):
    """``occupancy-alerts`` (spec: webhook_occupancy_alerts_event): a site's batch of zone alerts."""

    alert_events: list[OccupancyAlert] = Field(default_factory=list)
    for_site: bool | None = None
    site_id: str | None = None
    site_name: str | None = None
