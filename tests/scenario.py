"""A scripted day at the Mist Office with known answers: zone visits, RSSI samples, locations, devices.

Bodies are Mist webhook bodies (one topic each, several events, as Mist batches them); some are deliberately
out of order. `EXPECTED` holds what every query must answer once all bodies are processed, in any order.
"""

from __future__ import annotations

import orjson

SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
LOBBY = "8ac84899-32db-6327-334c-9b6d58544cfe"
ORG = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
T0 = 1749106800.0  # a multiple of 900 and of 60: windows start at T0
AP1, AP2 = "5c5b350e55c8", "5c5b35513227"
BEACON = "ed2cc53f2770"
SDK_CLIENT = "70ef0071535f"
ASSET = "7fc2936fd243"


def body(topic: str, events: list[dict]) -> bytes:
    return orjson.dumps({"topic": topic, "events": events})


def zone_event(trigger: str, t: float, member: dict) -> dict:
    return {
        "site_id": SITE,
        "map_id": MAP,
        "zone_id": LOBBY,
        "trigger": trigger,
        "timestamp": T0 + t,
        **member,
    }


A = {"type": "wifi", "mac": "aa0000000001"}
B = {"type": "wifi", "mac": "AA:00:00:00:00:02"}  # Mist's other spelling: the same member as aa0000000002
C = {"type": "asset", "mac": "aa0000000003", "asset_id": "c180b858-8f39-11e7-a7a5-346895ed1b7d"}
D = {"type": "sdk", "id": "sdk-client-d", "name": "D"}
E = {"type": "wifi", "mac": "aa0000000005"}


def rssi_event(ap: str, rssi: int, t: float, mac: str = BEACON) -> dict:
    return {
        "site_id": SITE,
        "map_id": MAP,
        "org_id": ORG,
        "mac": mac,
        "device_id": f"00000000-0000-0000-1000-{ap}",
        "rssi": rssi,
        "timestamp": T0 + t,
        "is_asset": False,
        "ap_loc": [1.0, 2.0, 2.75],
        "beam": 1,
    }


def location_event(t: float, x: float, y: float, **who: object) -> dict:
    return {"site_id": SITE, "map_id": MAP, "timestamp": T0 + t, "x": x, "y": y, **who}


def alert_event(kind: str, t: float, occupancy: int) -> dict:
    """An occupancy-alerts event as Mist batches it: per site, one item per zone."""
    item = {
        "current_occupancy": occupancy,
        "map_id": MAP,
        "occupancy_limit": 25,
        "org_id": ORG,
        "timestamp": T0 + t,
        "type": kind,
        "zone_id": LOBBY,
        "zone_name": "Lobby",
    }
    return {"alert_events": [item], "for_site": True, "site_id": SITE, "site_name": "Mist Office"}


ASSET_WHO = {
    "mac": ASSET,
    "id": "c180b858-8f39-11e7-a7a5-346895ed1b7d",
    "type": "asset",
    "name": "Forklift-07",
}
SDK_WHO = {"id": "de87bf9d-183f-e383-cc68-6ba43947d403", "type": "sdk", "name": "phone"}

BODIES: list[tuple[str, bytes]] = [
    # Zone: A visits 60 s; B enters twice (the repeat changes nothing) and its exit comes first; C exits
    # before ever entering (ignored), then enters and stays; D (an SDK client) stays; E visits in the next
    # 15-minute window.
    ("zone", body("zone", [zone_event("enter", 10, A), zone_event("exit", 200, B)])),
    (
        "zone",
        body("zone", [zone_event("exit", 70, A), zone_event("enter", 20, B), zone_event("exit", 40, C)]),
    ),
    ("zone", body("zone", [zone_event("enter", 30, B), zone_event("enter", 50, C)])),
    ("zone", body("zone", [zone_event("enter", 100, D)])),
    ("zone", body("zone", [zone_event("enter", 950, E), zone_event("exit", 1000, E)])),
    # RSSI: the beacon heard by AP1 three times and AP2 once in the first minute, AP1 once in the second.
    ("discovered-raw-rssi", body("discovered-raw-rssi", [rssi_event(AP1, -70, 1), rssi_event(AP2, -90, 5)])),
    ("discovered-raw-rssi", body("discovered-raw-rssi", [rssi_event(AP1, -60, 3), rssi_event(AP1, -80, 2)])),
    ("discovered-raw-rssi", body("discovered-raw-rssi", [rssi_event(AP1, -75, 61)])),
    # Later: the beacon's event-time clock moves past the first two windows, which close and are published.
    ("discovered-raw-rssi", body("discovered-raw-rssi", [rssi_event(AP2, -85, 200)])),
    # An SDK client's scan: one sample per AP it heard.
    (
        "sdkclient-scan-data",
        body(
            "sdkclient-scan-data",
            [
                {
                    "site_id": SITE,
                    "mac": SDK_CLIENT,
                    "last_seen": T0 + 7,
                    "connection_ap": AP1,
                    "connection_band": "5",
                    "connection_bssid": "5c5b350e55c4",
                    "connection_channel": 36,
                    "connection_rssi": -61,
                    "scan_data": [
                        {
                            "ap": AP1,
                            "band": "5",
                            "bssid": "5c5b350e55c4",
                            "channel": 36,
                            "rssi": -61,
                            "ssid": "x",
                            "timestamp": T0 + 7,
                        },
                        {
                            "ap": AP2,
                            "band": "2.4",
                            "bssid": "5c5b35513224",
                            "channel": 6,
                            "rssi": -77,
                            "ssid": "x",
                            "timestamp": T0 + 7,
                        },
                    ],
                }
            ],
        ),
    ),
    # Locations: the asset's updates come 10, 30, then a late 20: the newest by event time (30) wins.
    ("location", body("location", [location_event(10, 1.0, 1.0, **ASSET_WHO)])),
    (
        "location",
        body("location", [location_event(30, 3.0, 4.0, **ASSET_WHO), location_event(5, 8.0, 9.0, **SDK_WHO)]),
    ),
    ("location", body("location", [location_event(20, 2.0, 2.0, **ASSET_WHO)])),
    # Devices: AP2 goes down then up, reported in the reverse order; AP1 is only reconfigured.
    (
        "device-updowns",
        body(
            "device-updowns",
            [
                {
                    "ap": AP2,
                    "ap_name": "AP-2",
                    "site_name": "Mist Office",
                    "site_id": SITE,
                    "org_id": ORG,
                    "timestamp": T0 + 100,
                    "type": "AP_CONNECTED",
                },
                {
                    "ap": AP2,
                    "ap_name": "AP-2",
                    "site_name": "Mist Office",
                    "site_id": SITE,
                    "org_id": ORG,
                    "timestamp": T0 + 10,
                    "type": "AP_DISCONNECTED",
                },
            ],
        ),
    ),
    (
        "device-events",
        body(
            "device-events",
            [
                {
                    "mac": AP1,
                    "ap": AP1,
                    "device_type": "ap",
                    "device_name": "AP-1",
                    "site_name": "Mist Office",
                    "site_id": SITE,
                    "org_id": ORG,
                    "timestamp": T0 + 5,
                    "type": "AP_RECONFIGURED",
                }
            ],
        ),
    ),
    # Occupancy alerts on the Lobby, the newer (back under the limit) ahead of the older violation.
    ("occupancy-alerts", body("occupancy-alerts", [alert_event("COMPLIANCE-OK", 300, 2)])),
    ("occupancy-alerts", body("occupancy-alerts", [alert_event("COMPLIANCE-VIOLATION", 200, 27)])),
]

EXPECTED = {
    f"/v1/zones/{LOBBY}/occupancy": {
        "zone_id": LOBBY,
        "zone_name": "Lobby",
        "site_id": SITE,
        "count": 2,
        "members": [
            {"member": "aa0000000003", "type": "asset", "entered": T0 + 50},
            {"member": "sdk-client-d", "type": "sdk", "entered": T0 + 100},
        ],
        "exits_ignored": 1,  # C's exit before its enter
        "alert": {  # the newest by event time, not the last to arrive
            "zone_id": LOBBY,
            "zone_name": "Lobby",
            "map_id": MAP,
            "site_id": SITE,
            "type": "COMPLIANCE-OK",
            "current_occupancy": 2,
            "occupancy_limit": 25,
            "timestamp": T0 + 300,
        },
    },
    f"/v1/zones/{LOBBY}/visits": {
        "zone_id": LOBBY,
        "windows": [
            {"start": T0, "end": T0 + 900, "visits": 2, "dwell_total_s": 240.0, "dwell_max_s": 180.0},
            {"start": T0 + 900, "end": T0 + 1800, "visits": 1, "dwell_total_s": 50.0, "dwell_max_s": 50.0},
        ],
    },
    f"/v1/rssi/{BEACON}": {
        "mac": BEACON,
        "windows": [
            {
                "start": T0,
                "end": T0 + 60,
                "aps": {
                    AP1: {"count": 3, "sum": -210.0, "min": -80.0, "max": -60.0, "last": -60.0},
                    AP2: {"count": 1, "sum": -90.0, "min": -90.0, "max": -90.0, "last": -90.0},
                },
            },
            {
                "start": T0 + 60,
                "end": T0 + 120,
                "aps": {AP1: {"count": 1, "sum": -75.0, "min": -75.0, "max": -75.0, "last": -75.0}},
            },
            {
                "start": T0 + 180,
                "end": T0 + 240,
                "aps": {AP2: {"count": 1, "sum": -85.0, "min": -85.0, "max": -85.0, "last": -85.0}},
            },
        ],
    },
    f"/v1/rssi/{SDK_CLIENT}": {
        "mac": SDK_CLIENT,
        "windows": [
            {
                "start": T0,
                "end": T0 + 60,
                "aps": {
                    AP1: {"count": 1, "sum": -61.0, "min": -61.0, "max": -61.0, "last": -61.0},
                    AP2: {"count": 1, "sum": -77.0, "min": -77.0, "max": -77.0, "last": -77.0},
                },
            }
        ],
    },
    f"/v1/locations/{ASSET}": {
        "key": ASSET,
        "type": "asset",
        "site_id": SITE,
        "site_name": "Mist Office",
        "map_id": MAP,
        "map_name": "Floor 1",
        "x": 3.0,
        "y": 4.0,
        "x_px": 3.0 * 40.94,
        "y_px": 4.0 * 40.94,
        "timestamp": T0 + 30,
    },
    f"/v1/maps/{MAP}/locations?since=0": {
        "map_id": MAP,
        "locations": [
            {
                "key": ASSET,
                "type": "asset",
                "site_id": SITE,
                "site_name": "Mist Office",
                "map_id": MAP,
                "map_name": "Floor 1",
                "x": 3.0,
                "y": 4.0,
                "x_px": 3.0 * 40.94,
                "y_px": 4.0 * 40.94,
                "timestamp": T0 + 30,
            },
            {
                "key": SDK_WHO["id"],
                "type": "sdk",
                "site_id": SITE,
                "site_name": "Mist Office",
                "map_id": MAP,
                "map_name": "Floor 1",
                "x": 8.0,
                "y": 9.0,
                "x_px": 8.0 * 40.94,
                "y_px": 9.0 * 40.94,
                "timestamp": T0 + 5,
            },
        ],
    },
    f"/v1/devices/{AP2}/status": {
        "mac": AP2,
        "status": "up",
        "last_type": "AP_CONNECTED",
        "timestamp": T0 + 100,
    },
    f"/v1/devices/{AP1}/status": {
        "mac": AP1,
        "status": "unknown",
        "last_type": "AP_RECONFIGURED",
        "timestamp": T0 + 5,
    },
}

# Zone visits published to mist.zone.visits (retractions aside): (member, entered, exited).
EXPECTED_VISITS = {
    ("aa0000000001", T0 + 10, T0 + 70),
    ("aa0000000002", T0 + 20, T0 + 200),
    ("aa0000000005", T0 + 950, T0 + 1000),
}
