"""Raw RSSI topics: what each AP hears from BLE beacons and Wi-Fi clients, and SDK clients' Wi-Fi scans."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from topics.models.common import Mac, MistEnum, MistEvent, ServicePacket, Timestamp


class DiscoveredRawRssiEvent(MistEvent):
    """``discovered-raw-rssi`` (spec: webhook_discovered_raw_rssi_event): a BLE beacon heard by an AP beam."""

    ap: Mac | None = None  # the reporting AP by MAC, in payloads without device_id
    ap_loc: list[float] | None = None  # x, y, z of the reporting AP, meters
    beam: int | None = None
    device_id: str | None = None
    ibeacon_major: int | None = None
    ibeacon_minor: int | None = None
    ibeacon_uuid: str | None = None
    is_asset: bool | None = None
    mac: Mac | None = None
    map_id: str | None = None
    mfg_company_id: str | None = None  # the spec says string here ("004c"); an int on every other topic
    mfg_data: str | None = None
    org_id: str | None = None
    rssi: float | None = None
    service_packets: list[ServicePacket] | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class AssetRawEvent(MistEvent):
    """``asset-raw`` (spec: webhook_asset_raw_event; deprecated for asset-raw-rssi): a named asset's reading.

    The spec marks ``mfg_company_id``/``mfg_data`` required yet describes them as optional: iBeacon-only tags
    have none, so they are optional here.
    """

    ap: Mac | None = None  # the reporting AP by MAC, in payloads without device_id
    asset_id: str | None = None
    beam: int | None = None
    device_id: str | None = None
    ibeacon_major: int | None = None
    ibeacon_minor: int | None = None
    ibeacon_uuid: str | None = None
    mac: Mac | None = None
    map_id: str | None = None
    mfg_company_id: int | None = None
    mfg_data: str | None = None
    rssi: float | None = None
    service_data_data: str | None = None
    service_data_last_rx_time: int | None = None
    service_data_rx_cnt: int | None = None
    service_data_uuid: str | None = None
    service_packets: list[ServicePacket] | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class AssetRawRssiEvent(MistEvent):
    """``asset-raw-rssi``: like discovered-raw-rssi, but for assets; ``mfg_company_id`` is an int here."""

    ap: Mac | None = None  # the reporting AP by MAC, in payloads without device_id
    ap_loc: list[float] | None = None
    beam: int | None = None
    device_id: str | None = None
    ibeacon_major: int | None = None
    ibeacon_minor: int | None = None
    ibeacon_uuid: str | None = None
    is_asset: bool | None = None
    mac: Mac | None = None
    map_id: str | None = None
    mfg_company_id: int | None = None
    mfg_data: str | None = None
    org_id: str | None = None
    rssi: float | None = None
    service_packets: list[ServicePacket] | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class WifiRawPacket(MistEvent):
    """One probe/data frame an AP heard from a Wi-Fi client (``band`` as Mist writes it, e.g. "5GHz")."""

    band: str | None = None
    rssi: float | None = None


class WifiConnRawEvent(MistEvent):
    """``wifi-conn-raw``: RSSI of a connected Wi-Fi client at one AP.

    MACs come as ``aa-bb-..``; older payloads spell ``mapid``/``siteid``. No timestamp in the samples.
    """

    ap_id: Mac | None = None
    ap_loc: list[float] | None = None
    client_id: Mac | None = None
    connected_site: bool | None = None
    map_id: str | None = Field(default=None, validation_alias=AliasChoices("map_id", "mapid"))
    org_id: str | None = None
    packets: list[WifiRawPacket] = Field(default_factory=list)
    site_id: str | None = Field(default=None, validation_alias=AliasChoices("site_id", "siteid"))
    timestamp: Timestamp | None = None


class WifiUnconnRawEvent(WifiConnRawEvent):
    """``wifi-unconn-raw``: same shape as wifi-conn-raw, for clients not connected to the site."""


class ScanBand(MistEnum):
    """Spec: scan_data_item_band."""

    BAND_24 = "2.4"
    BAND_5 = "5"


class ScanDataItem(MistEvent):
    """One BSSID in an SDK client's background Wi-Fi scan (spec: ..._scan_data_item)."""

    ap: Mac | None = None
    band: ScanBand | None = None
    bssid: Mac | None = None
    channel: int | None = None
    rssi: float | None = None
    ssid: str | None = None
    timestamp: Timestamp | None = None


class SdkclientScanDataEvent(MistEvent):
    """``sdkclient-scan-data`` (spec: webhook_sdkclient_scan_data_event).

    ``connection_band`` is an open string in the spec (unlike the scan items' ``band``).
    """

    connection_ap: Mac | None = None
    connection_band: str | None = None
    connection_bssid: Mac | None = None
    connection_channel: int | None = None
    connection_rssi: float | None = None
    last_seen: Timestamp | None = None
    mac: Mac | None = None
    scan_data: list[ScanDataItem] | None = None
    site_id: str | None = None
