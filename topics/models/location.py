"""Location topics: where a client, asset or SDK client is on a map (x, y in meters)."""

from __future__ import annotations

from pydantic import Field

from topics.models.common import Mac, MistEvent, Timestamp


class WifiBeaconExtendedInfo(MistEvent):
    """An extended beacon packet heard from a Wi-Fi tag (spec: wifi_beacon_extended_info_items)."""

    frame_ctrl: int | None = None
    payload: str | None = None
    seq_ctrl: int | None = None


class _BleTag(MistEvent):
    """Beacon fields that BLE assets report (iBeacon, Eddystone, manufacturer data)."""

    battery_voltage: int | None = None
    eddystone_uid_instance: str | None = None
    eddystone_uid_namespace: str | None = None
    eddystone_url_url: str | None = None
    ibeacon_major: int | None = None
    ibeacon_minor: int | None = None
    ibeacon_uuid: str | None = None
    mfg_company_id: int | None = None  # decimal here; discovered-raw-rssi sends it as a hex string
    mfg_data: str | None = None


class _Position(MistEvent):
    """Where on which map, and when."""

    map_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None
    x: float | None = Field(default=None, description="meters")
    y: float | None = Field(default=None, description="meters")


class LocationEvent(_Position, _BleTag):
    """``location`` (spec: webhook_location_event). ``type`` is an open string: asset, wifi, sdk, ..."""

    id: str | None = Field(default=None, description="client id; the only identity of an SDK client, no mac")
    mac: Mac | None = None
    name: str | None = None
    wifi_beacon_extended_info: list[WifiBeaconExtendedInfo] | None = None


class LocationAssetEvent(_Position, _BleTag):
    """``location-asset``: a BLE asset's position."""

    mac: Mac | None = None


class LocationCentrakEvent(_Position):
    """``location-centrak``: a CenTrak Wi-Fi tag's position, with its extended beacon payloads."""

    mac: Mac | None = None
    mfg_company_id: int | None = None
    mfg_data: str | None = None
    wifi_beacon_extended_info: list[WifiBeaconExtendedInfo] | None = None


class LocationClientEvent(_Position):
    """``location-client``: a connected Wi-Fi client's position."""

    mac: Mac | None = None


class LocationUnclientEvent(LocationClientEvent):
    """``location-unclient``: an unconnected (probing) Wi-Fi client's position; same shape as a client's."""


class LocationSdkEvent(_Position):
    """``location-sdk``: an SDK client's position, identified by its SDK ``id`` (it has no mac)."""

    id: str | None = None
    name: str | None = None
