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
    map_id: str
    name: str | None = None
    site_id: str
    timestamp: Timestamp
    trigger: ZoneTrigger
    type: ClientType
    zone_id: str


class RssizoneEvent(MistEvent):
    """``rssizone``: enter/exit of an RSSI zone (zone defined by signal strength, not a polygon)."""

    mac: Mac
    map_id: str
    rssizone_id: str
    site_id: str
    timestamp: Timestamp
    trigger: ZoneTrigger
    type: ClientType


class OccupancyAlertType(MistEnum):
    """Spec: webhook_occupancy_alert_type; Mist spells these in uppercase."""

    COMPLIANCE_OK = "COMPLIANCE-OK"
    COMPLIANCE_VIOLATION = "COMPLIANCE-VIOLATION"


class OccupancyAlert(MistEvent):
    """One zone's alert inside an ``occupancy-alerts`` event (spec: ..._alert_events_items)."""

    current_occupancy: int
    map_id: str
    occupancy_limit: int
    org_id: str
    timestamp: Timestamp
    type: OccupancyAlertType
    zone_id: str
    zone_name: str


class OccupancyAlertsEvent(MistEvent):
    """``occupancy-alerts`` (spec: webhook_occupancy_alerts_event): a site's batch of zone alerts."""

    alert_events: list[OccupancyAlert] = Field(default_factory=list)
    for_site: bool | None = None
    site_id: str
    site_name: str
