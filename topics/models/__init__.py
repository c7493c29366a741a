"""Pydantic models of Mist webhook events, one module per family of topics."""

from __future__ import annotations

from typing import Any

from topics.models.alarms import AlarmEvent, AuditEvent, HaClusterNode
from topics.models.client import (
    ClientInfoEvent,
    ClientJoinEvent,
    ClientLatencyEvent,
    ClientSessionsEvent,
    GuestAuthorizationsEvent,
    NacAccountingEvent,
    NacEventsEvent,
    TerminationReason,
)
from topics.models.common import (
    ClientType,
    Mac,
    MaybeMac,
    MistEnum,
    MistEvent,
    Number,
    ServicePacket,
    Timestamp,
    WebhookBody,
    ZoneTrigger,
    normalise_mac,
)
from topics.models.device import DeviceEventsEvent, DeviceType, DeviceUpdownsEvent, EvType, MxedgeEventsEvent
from topics.models.location import (
    LocationAssetEvent,
    LocationCentrakEvent,
    LocationClientEvent,
    LocationEvent,
    LocationSdkEvent,
    LocationUnclientEvent,
    WifiBeaconExtendedInfo,
)
from topics.models.minis import MinisApplicationEvent, MinisReachabilityEvent
from topics.models.rssi import (
    AssetRawEvent,
    AssetRawRssiEvent,
    DiscoveredRawRssiEvent,
    ScanBand,
    ScanDataItem,
    SdkclientScanDataEvent,
    WifiConnRawEvent,
    WifiRawPacket,
    WifiUnconnRawEvent,
)
from topics.models.site import PingEvent, SiteSleEvent, VbeaconEvent
from topics.models.zone import (
    OccupancyAlert,
    OccupancyAlertsEvent,
    OccupancyAlertType,
    RssizoneEvent,
    ZoneEvent,
)


def __getattr__(name: str) -> Any:
    # model_for lives in the catalogue, which imports this package: resolve it lazily to avoid the cycle.
    if name == "model_for":
        from topics.catalogue import model_for

        return model_for
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AlarmEvent",
    "AssetRawEvent",
    "AssetRawRssiEvent",
    "AuditEvent",
    "ClientInfoEvent",
    "ClientJoinEvent",
    "ClientLatencyEvent",
    "ClientSessionsEvent",
    "ClientType",
    "DeviceEventsEvent",
    "DeviceType",
    "DeviceUpdownsEvent",
    "DiscoveredRawRssiEvent",
    "EvType",
    "GuestAuthorizationsEvent",
    "HaClusterNode",
    "LocationAssetEvent",
    "LocationCentrakEvent",
    "LocationClientEvent",
    "LocationEvent",
    "LocationSdkEvent",
    "LocationUnclientEvent",
    "Mac",
    "MaybeMac",
    "MinisApplicationEvent",
    "MinisReachabilityEvent",
    "MistEnum",
    "MistEvent",
    "MxedgeEventsEvent",
    "NacAccountingEvent",
    "NacEventsEvent",
    "Number",
    "OccupancyAlert",
    "OccupancyAlertType",
    "OccupancyAlertsEvent",
    "PingEvent",
    "RssizoneEvent",
    "ScanBand",
    "ScanDataItem",
    "SdkclientScanDataEvent",
    "ServicePacket",
    "SiteSleEvent",
    "TerminationReason",
    "Timestamp",
    "VbeaconEvent",
    "WebhookBody",
    "WifiBeaconExtendedInfo",
    "WifiConnRawEvent",
    "WifiRawPacket",
    "WifiUnconnRawEvent",
    "ZoneEvent",
    "ZoneTrigger",
    "model_for",
    "normalise_mac",
]
