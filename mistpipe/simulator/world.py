"""A synthetic Mist site: people and assets walking on a map, BLE beacons, APs that hear them.

Pure and deterministic: a `World` is built from reference data (Mist's API answers for sites, maps and
zones), a seed and a start time, and yields Mist webhook events in event-time order, `(topic, event)` at a
time, with no I/O and no wall clock. The same seed, reference and start give the same events.

Units are Mist's: positions are meters on the map (x right, y down, from the map's top-left corner), zone
vertices are pixels (÷ ppm gives meters), timestamps are epoch seconds. What it sends:

- `location` of every walker every 2-4 s (type wifi, sdk or asset), and `zone` enter/exit whenever a
  location falls inside a zone polygon that the previous one did not (or the other way round), at the time
  of that location: a dot drawn inside a zone is a member of it.
- `discovered-raw-rssi` (stationary beacons) and `asset-raw-rssi` (assets): every ~2 s one sample per AP
  that hears the emitter, RSSI by a log-distance path-loss model with Gaussian noise; an AP that is down
  hears nothing.
- `sdkclient-scan-data` of SDK clients every ~5 s: the APs their phone scanned, on 2.4 and 5 GHz.
- `client-join` when a Wi-Fi client first shows up and when it roams, with `client-sessions` (roamed,
  `next_ap`) for the session it leaves.
- `device-updowns`: every AP connects at the start; now and then one disconnects and reconnects 15-45 s
  later, followed by a `device-events` AP_CONFIGURED. `ping` at the start and every minute.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]
Point = tuple[float, float]

AP_HEIGHT_M = 2.75
BLE_POWER_1M = -59.0  # iBeacon "measured power": RSSI at 1 m
BLE_PATH_LOSS = 2.6  # path-loss exponent indoors, through people and furniture
BLE_NOISE_DB = 3.0
BLE_FLOOR_DBM = -88.0  # quieter than this is not heard
WIFI_POWER_1M = {"2.4": -38.0, "5": -45.0}
WIFI_PATH_LOSS = 3.0
WIFI_NOISE_DB = 4.0
WIFI_FLOOR_DBM = -88.0
ROAM_MARGIN_DB = 8.0  # a Wi-Fi client roams when another AP is this much louder than its own
SSID = "Corp-WiFi"
WLAN_ID = "7681be9a-044a-4622-90cf-3accde5ad853"
CHANNELS = {"2.4": (1, 6, 11), "5": (36, 40, 44, 48, 149, 153, 157, 161)}
ASSET_NAMES = ("Forklift", "Cart", "Pallet-Jack", "Wheelchair", "Scanner", "Trolley")
DEVICES = (  # client_family, client_manufacture, client_model, client_os
    ("iPhone", "Apple", "15", "iOS"),
    ("Mac", "Apple", "MacBookPro18,3", "macOS"),
    ("Galaxy", "Samsung", "S23", "Android"),
    ("Windows", "Dell", "Latitude 7440", "Windows 11"),
    ("Pixel", "Google", "Pixel 8", "Android"),
)


def rssi_at(distance_m: float, power_1m: float, exponent: float) -> float:
    """Log-distance path loss: the mean RSSI (dBm) at `distance_m` of an emitter whose RSSI at 1 m is
    `power_1m`. Below 0.5 m the distance counts as 0.5 m (the antenna is not a point)."""
    return power_1m - 10.0 * exponent * math.log10(max(distance_m, 0.5))


def inside(point: Point, polygon: list[Point]) -> bool:
    """Whether `point` lies inside `polygon` (ray casting; a point on an edge may go either way)."""
    x, y = point
    found = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            found = not found
        j = i
    return found


@dataclass
class Zone:
    id: str
    name: str
    polygon_m: list[Point]  # vertices in meters

    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.polygon_m]
        ys = [p[1] for p in self.polygon_m]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class Ap:
    mac: str
    name: str
    x: float
    y: float
    up: bool = True
    channels: dict[str, int] = field(default_factory=dict)

    @property
    def device_id(self) -> str:
        return f"00000000-0000-0000-1000-{self.mac}"

    def bssid(self, band: str) -> str:
        """A radio's BSSID: the AP MAC with its last byte moved by 1 (2.4 GHz) or 2 (5 GHz)."""
        last = (int(self.mac[-2:], 16) + (1 if band == "2.4" else 2)) % 256
        return f"{self.mac[:-2]}{last:02x}"


@dataclass
class Walker:
    """A client or an asset walking from target to target, pausing at each."""

    kind: str  # "wifi" | "sdk" | "asset"
    id: str  # location id: client id, SDK client id, asset id
    mac: str  # Wi-Fi/BLE MAC; the SDK client's phone MAC (sent only in its scan data)
    name: str | None
    x: float
    y: float
    speed: float  # m/s
    t: float  # time of (x, y)
    target: Point
    pause_until: float
    zones: list[str] = field(default_factory=list)  # zone ids it is in, in zone order
    ap: str | None = None  # a Wi-Fi client's AP
    connected_at: float = 0.0
    device: tuple[str, str, str, str] = DEVICES[0]
    ibeacon: tuple[str, int, int] | None = None  # assets: uuid, major, minor


@dataclass
class Beacon:
    mac: str
    x: float
    y: float
    ibeacon: tuple[str, int, int]


class ReferenceMissing(ValueError):
    pass


def pick_map(reference: dict[str, list[dict[str, Any]]], map_id: str | None = None) -> dict[str, Any]:
    """The map to simulate: `map_id`, else the first map of the reference data that has a size and ppm."""
    for map_ in reference.get("maps", []):
        if map_id is None or map_.get("id") == map_id:
            if map_id is None and not (map_.get("ppm") and map_.get("width") and map_.get("height")):
                continue
            return map_
    raise ReferenceMissing(f"no map {map_id!r} in the reference data" if map_id else "no map with a ppm")


class World:
    """The site, its walkers, beacons and APs; `step()` runs the next due action and returns its events."""

    def __init__(
        self,
        reference: dict[str, list[dict[str, Any]]],
        *,
        start: float,
        seed: int = 1,
        clients: int = 12,
        assets: int = 4,
        beacons: int = 6,
        map_id: str | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.start = float(start)
        self.map = pick_map(reference, map_id)
        self.ppm = float(self.map["ppm"])
        self.width_m = float(self.map.get("width_m") or self.map["width"] / self.ppm)
        self.height_m = float(self.map.get("height_m") or self.map["height"] / self.ppm)
        self.site_id = self.map.get("site_id")
        site = next((s for s in reference.get("sites", []) if s.get("id") == self.site_id), {})
        self.site_name = site.get("name") or "Simulated site"
        self.org_id = self.map.get("org_id") or site.get("org_id") or "00000000-0000-0000-0000-000000000000"
        self.zones = [
            Zone(
                z["id"],
                z.get("name") or z["id"],
                [(v["x"] / self.ppm, v["y"] / self.ppm) for v in z["vertices"]],
            )
            for z in reference.get("zones", [])
            if z.get("map_id") == self.map["id"] and len(z.get("vertices") or ()) >= 3
        ]
        self.aps = self._place_aps()
        self.walkers: list[Walker] = []
        for i in range(clients):
            # Every third client is a phone running Mist's SDK: located by its SDK id, scanning Wi-Fi.
            self.walkers.append(self._walker("sdk" if i % 3 == 2 else "wifi", i))
        for i in range(assets):
            self.walkers.append(self._walker("asset", i))
        self.beacons = [Beacon(self._mac(), *self._random_point(), self._ibeacon()) for _ in range(beacons)]
        self._queue: list[tuple[float, int, str, int]] = []
        self._seq = 0
        self._schedule(self.start, "hello", 0)
        for i, walker in enumerate(self.walkers):
            self._schedule(self.start + self.rng.uniform(0.0, 3.0), "locate", i)
            if walker.kind == "asset":
                self._schedule(self.start + self.rng.uniform(0.0, 2.0), "asset-rssi", i)
            if walker.kind == "sdk":
                self._schedule(self.start + self.rng.uniform(1.0, 5.0), "scan", i)
        for j in range(len(self.beacons)):
            self._schedule(self.start + self.rng.uniform(0.0, 2.0), "beacon-rssi", j)
        self._schedule(self.start + 60.0, "ping", 0)
        self._schedule(self.start + self.rng.uniform(60.0, 120.0), "flap", 0)

    # -- set-up ------------------------------------------------------------------------------------------

    def _mac(self, oui: str | None = None) -> str:
        if oui:
            return f"{oui}{self.rng.getrandbits(24):06x}"
        first = self.rng.getrandbits(8) & 0xFC  # unicast, globally administered
        return f"{first:02x}{self.rng.getrandbits(40):010x}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _ibeacon(self) -> tuple[str, int, int]:
        return self._uuid(), self.rng.randint(1, 100), self.rng.randint(1, 5000)

    def _random_point(self, margin: float = 1.0) -> Point:
        return (
            self.rng.uniform(margin, self.width_m - margin),
            self.rng.uniform(margin, self.height_m - margin),
        )

    def _point_in(self, zone: Zone) -> Point:
        x0, y0, x1, y1 = zone.bbox()
        for _ in range(100):
            point = (self.rng.uniform(x0, x1), self.rng.uniform(y0, y1))
            if inside(point, zone.polygon_m):
                return point
        return (x0 + x1) / 2, (y0 + y1) / 2

    def _place_aps(self) -> list[Ap]:
        """About one AP per 150 m², on a grid over the map, named after the zone they hang in."""
        count = max(2, round(self.width_m * self.height_m / 150.0))
        cols = max(1, round(math.sqrt(count * self.width_m / self.height_m)))
        rows = math.ceil(count / cols)
        aps = []
        for r in range(rows):
            for c in range(cols):
                x = (c + 0.5) * self.width_m / cols + self.rng.uniform(-1.0, 1.0)
                y = (r + 0.5) * self.height_m / rows + self.rng.uniform(-1.0, 1.0)
                n = len(aps) + 1
                zone = next((z for z in self.zones if inside((x, y), z.polygon_m)), None)
                name = f"AP-{n:02d}" + (f"-{zone.name.replace(' ', '-')}" if zone else "")
                channels = {band: CHANNELS[band][n % len(CHANNELS[band])] for band in CHANNELS}
                aps.append(Ap(self._mac("5c5b35"), name, x, y, channels=channels))
        return aps

    def _walker(self, kind: str, i: int) -> Walker:
        x, y = self._random_point()
        if kind == "asset":
            name: str | None = f"{ASSET_NAMES[i % len(ASSET_NAMES)]}-{i + 1:02d}"
            speed = self.rng.uniform(0.5, 2.0)
        else:
            name = f"sdk-phone-{i + 1:02d}" if kind == "sdk" else None
            speed = self.rng.uniform(0.7, 1.4)
        walker = Walker(
            kind=kind,
            id=self._uuid(),
            mac=self._mac(),
            name=name,
            x=x,
            y=y,
            speed=speed,
            t=self.start,
            target=(x, y),
            pause_until=self.start,
            device=self.rng.choice(DEVICES),
            ibeacon=self._ibeacon() if kind == "asset" else None,
        )
        walker.target = self._next_target(walker)
        return walker

    def _next_target(self, walker: Walker) -> Point:
        # People head for a zone more often than assets do, so that zones see visits.
        if self.zones and self.rng.random() < (0.6 if walker.kind != "asset" else 0.4):
            return self._point_in(self.rng.choice(self.zones))
        return self._random_point()

    def _dwell(self, walker: Walker) -> float:
        in_zone = any(inside(walker.target, z.polygon_m) for z in self.zones)
        if walker.kind == "asset":
            return self.rng.uniform(5.0, 40.0)
        return self.rng.uniform(15.0, 90.0) if in_zone else self.rng.uniform(2.0, 15.0)

    # -- the clock ---------------------------------------------------------------------------------------

    def _schedule(self, due: float, action: str, index: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, action, index))

    def next_due(self) -> float:
        """Event time of the next action."""
        return self._queue[0][0]

    def step(self) -> list[tuple[str, Event]]:
        """Run the next due action: its events, `(mist topic, event)`, at its time."""
        due, _, action, index = heapq.heappop(self._queue)
        return getattr(self, "_" + action.replace("-", "_"))(round(due, 3), index)

    def run_until(self, until: float) -> list[tuple[str, Event]]:
        """Every event with a time up to `until` (for tests and tools)."""
        out: list[tuple[str, Event]] = []
        while self.next_due() <= until:
            out += self.step()
        return out

    # -- movement ----------------------------------------------------------------------------------------

    def move(self, walker: Walker, t: float) -> None:
        """Walk `walker` on to time `t`: straight to its target, pause there, pick the next target."""
        while walker.t < t:
            if walker.t < walker.pause_until:
                walker.t = min(t, walker.pause_until)
                continue
            tx, ty = walker.target
            dx, dy = tx - walker.x, ty - walker.y
            distance = math.hypot(dx, dy)
            needed = distance / walker.speed
            if walker.t + needed <= t:
                walker.x, walker.y = tx, ty
                walker.t += needed
                walker.pause_until = walker.t + self._dwell(walker)
                walker.target = self._next_target(walker)
            else:
                share = (t - walker.t) * walker.speed / distance
                walker.x += dx * share
                walker.y += dy * share
                walker.t = t

    def position(self, walker: Walker) -> Point:
        return round(walker.x, 2), round(walker.y, 2)

    # -- radio -------------------------------------------------------------------------------------------

    def _distance(self, ap: Ap, x: float, y: float) -> float:
        return math.sqrt((ap.x - x) ** 2 + (ap.y - y) ** 2 + (AP_HEIGHT_M - 1.0) ** 2)

    def heard_ble(self, x: float, y: float) -> list[tuple[Ap, int]]:
        """(AP, RSSI) of every up AP that hears a BLE emitter at (x, y) this time."""
        heard = []
        for ap in self.aps:
            if not ap.up:
                continue
            rssi = rssi_at(self._distance(ap, x, y), BLE_POWER_1M, BLE_PATH_LOSS)
            rssi += self.rng.gauss(0.0, BLE_NOISE_DB)
            if rssi >= BLE_FLOOR_DBM:
                heard.append((ap, round(rssi)))
        return heard

    def heard_wifi(self, x: float, y: float, band: str) -> list[tuple[Ap, int]]:
        heard = []
        for ap in self.aps:
            if not ap.up:
                continue
            rssi = rssi_at(self._distance(ap, x, y), WIFI_POWER_1M[band], WIFI_PATH_LOSS)
            rssi += self.rng.gauss(0.0, WIFI_NOISE_DB)
            if rssi >= WIFI_FLOOR_DBM:
                heard.append((ap, round(rssi)))
        return heard

    def _wifi_mean(self, ap: Ap, x: float, y: float) -> float:
        return rssi_at(self._distance(ap, x, y), WIFI_POWER_1M["5"], WIFI_PATH_LOSS)

    # -- actions -----------------------------------------------------------------------------------------

    def _common(self) -> Event:
        return {"site_id": self.site_id, "map_id": self.map["id"]}

    def _hello(self, ts: float, _: int) -> list[tuple[str, Event]]:
        events = [("ping", self._ping_event(ts))]
        for ap in self.aps:
            events.append(("device-updowns", self._updown(ap, ts, "AP_CONNECTED")))
        return events

    def _ping_event(self, ts: float) -> Event:
        return {"id": self._uuid(), "name": "mistpipe-simulator", "site_id": self.site_id, "timestamp": ts}

    def _ping(self, ts: float, _: int) -> list[tuple[str, Event]]:
        self._schedule(ts + 60.0, "ping", 0)
        return [("ping", self._ping_event(ts))]

    def _updown(self, ap: Ap, ts: float, kind: str) -> Event:
        return {
            "ap": ap.mac,
            "ap_name": ap.name,
            "for_site": True,
            "org_id": self.org_id,
            "site_id": self.site_id,
            "site_name": self.site_name,
            "timestamp": ts,
            "type": kind,
        }

    def _flap(self, ts: float, _: int) -> list[tuple[str, Event]]:
        self._schedule(ts + self.rng.uniform(90.0, 240.0), "flap", 0)
        up = [i for i, ap in enumerate(self.aps) if ap.up]
        if len(up) < 2:
            return []
        k = self.rng.choice(up)
        self.aps[k].up = False
        self._schedule(ts + self.rng.uniform(15.0, 45.0), "reconnect", k)
        return [("device-updowns", self._updown(self.aps[k], ts, "AP_DISCONNECTED"))]

    def _reconnect(self, ts: float, k: int) -> list[tuple[str, Event]]:
        ap = self.aps[k]
        ap.up = True
        configured = {
            "ap": ap.mac,
            "ap_name": ap.name,
            "device_name": ap.name,
            "device_type": "ap",
            "ev_type": "NOTICE",
            "mac": ap.mac,
            "org_id": self.org_id,
            "site_id": self.site_id,
            "site_name": self.site_name,
            "timestamp": round(ts + 1.0, 3),
            "type": "AP_CONFIGURED",
        }
        return [("device-updowns", self._updown(ap, ts, "AP_CONNECTED")), ("device-events", configured)]

    def _locate(self, ts: float, i: int) -> list[tuple[str, Event]]:
        walker = self.walkers[i]
        self._schedule(ts + self.rng.uniform(2.0, 4.0), "locate", i)
        self.move(walker, ts)
        x, y = self.position(walker)
        location: Event = {**self._common(), "id": walker.id, "timestamp": ts, "type": walker.kind, "x": x}
        location["y"] = y
        if walker.kind != "sdk":
            location["mac"] = walker.mac
        if walker.name:
            location["name"] = walker.name
        if walker.ibeacon:
            uuid_, major, minor = walker.ibeacon
            location.update(ibeacon_uuid=uuid_, ibeacon_major=major, ibeacon_minor=minor)
            location.update(battery_voltage=3300 - int((ts - self.start) // 600), mfg_company_id=935)
        events: list[tuple[str, Event]] = [("location", location)]

        now_in = [z.id for z in self.zones if inside((x, y), z.polygon_m)]
        for zone_id in walker.zones:
            if zone_id not in now_in:
                events.append(("zone", self._zone_event(walker, zone_id, "exit", ts)))
        for zone_id in now_in:
            if zone_id not in walker.zones:
                events.append(("zone", self._zone_event(walker, zone_id, "enter", ts)))
        walker.zones = now_in
        if walker.kind == "wifi":
            events += self._associate(walker, x, y, ts)
        return events

    def _zone_event(self, walker: Walker, zone_id: str, trigger: str, ts: float) -> Event:
        event: Event = {**self._common(), "zone_id": zone_id, "trigger": trigger, "timestamp": ts}
        event["type"] = walker.kind
        if walker.kind == "sdk":
            event.update(id=walker.id, name=walker.name)
        else:
            event["mac"] = walker.mac
        if walker.kind == "asset":
            event.update(asset_id=walker.id, name=walker.name)
        return event

    def _associate(self, walker: Walker, x: float, y: float, ts: float) -> list[tuple[str, Event]]:
        """A Wi-Fi client joins the loudest AP, and roams when another is ROAM_MARGIN_DB louder."""
        up = [ap for ap in self.aps if ap.up]
        if not up:
            return []
        best = max(up, key=lambda ap: self._wifi_mean(ap, x, y))
        current = next((ap for ap in up if ap.mac == walker.ap), None)
        if current is not None and (
            current is best or self._wifi_mean(best, x, y) - self._wifi_mean(current, x, y) < ROAM_MARGIN_DB
        ):
            return []
        rssi = round(self._wifi_mean(best, x, y) + self.rng.gauss(0.0, WIFI_NOISE_DB))
        events = []
        if walker.ap is not None:
            old = next(ap for ap in self.aps if ap.mac == walker.ap)
            family, maker, model, os_ = walker.device
            events.append(
                (
                    "client-sessions",
                    {
                        "ap": old.mac,
                        "ap_name": old.name,
                        "band": "5",
                        "bssid": old.bssid("5"),
                        "client_family": family,
                        "client_manufacture": maker,
                        "client_model": model,
                        "client_os": os_,
                        "connect": int(walker.connected_at),
                        "connect_float": walker.connected_at,
                        "disconnect": int(ts),
                        "disconnect_float": ts,
                        "duration": int(ts - walker.connected_at),
                        "mac": walker.mac,
                        "next_ap": best.mac,
                        "org_id": self.org_id,
                        "rssi": round(self._wifi_mean(old, x, y)),
                        "site_id": self.site_id,
                        "site_name": self.site_name,
                        "ssid": SSID,
                        "termination_reason": 3,
                        "timestamp": ts,
                        "version": 2,
                        "wlan_id": WLAN_ID,
                    },
                )
            )
        walker.ap, walker.connected_at = best.mac, ts
        join = {
            "ap": best.mac,
            "ap_name": best.name,
            "band": "5",
            "bssid": best.bssid("5"),
            "connect": int(ts),
            "connect_float": ts,
            "mac": walker.mac,
            "org_id": self.org_id,
            "rssi": rssi,
            "site_id": self.site_id,
            "site_name": self.site_name,
            "ssid": SSID,
            "timestamp": ts,
            "version": 2,
            "wlan_id": WLAN_ID,
        }
        return [*events, ("client-join", join)]

    def _raw_rssi(self, topic: str, mac: str, x: float, y: float, ts: float, ibeacon: tuple) -> list:
        uuid_, major, minor = ibeacon
        asset = topic == "asset-raw-rssi"
        events = []
        for n, (ap, rssi) in enumerate(self.heard_ble(x, y)):
            event: Event = {
                **self._common(),
                "ap_loc": [round(ap.x, 2), round(ap.y, 2), AP_HEIGHT_M],
                "beam": self.rng.randint(1, 8),
                "device_id": ap.device_id,
                "ibeacon_major": major,
                "ibeacon_minor": minor,
                "ibeacon_uuid": uuid_,
                "is_asset": asset,
                "mac": mac,
                "org_id": self.org_id,
                "rssi": rssi,
                # Each AP reports at its own instant, a few ms apart.
                "timestamp": round(ts + 0.007 * n, 3),
            }
            # discovered-raw-rssi spells the company id as hex text, asset-raw-rssi as a number.
            event["mfg_company_id"] = 935 if asset else "004c"
            events.append((topic, event))
        return events

    def _beacon_rssi(self, ts: float, j: int) -> list[tuple[str, Event]]:
        self._schedule(ts + self.rng.uniform(1.5, 2.5), "beacon-rssi", j)
        beacon = self.beacons[j]
        return self._raw_rssi("discovered-raw-rssi", beacon.mac, beacon.x, beacon.y, ts, beacon.ibeacon)

    def _asset_rssi(self, ts: float, i: int) -> list[tuple[str, Event]]:
        self._schedule(ts + self.rng.uniform(1.5, 2.5), "asset-rssi", i)
        walker = self.walkers[i]
        self.move(walker, ts)
        assert walker.ibeacon is not None
        return self._raw_rssi("asset-raw-rssi", walker.mac, walker.x, walker.y, ts, walker.ibeacon)

    def _scan(self, ts: float, i: int) -> list[tuple[str, Event]]:
        self._schedule(ts + self.rng.uniform(4.0, 6.0), "scan", i)
        walker = self.walkers[i]
        self.move(walker, ts)
        items = []
        for band in ("2.4", "5"):
            for ap, rssi in self.heard_wifi(walker.x, walker.y, band):
                items.append(
                    {
                        "ap": ap.mac,
                        "band": band,
                        "bssid": ap.bssid(band),
                        "channel": ap.channels[band],
                        "rssi": rssi,
                        "ssid": SSID,
                        "timestamp": ts,
                    }
                )
        if not items:
            return []
        best = max(
            (item for item in items if item["band"] == "5"), key=lambda it: it["rssi"], default=items[0]
        )
        return [
            (
                "sdkclient-scan-data",
                {
                    "connection_ap": best["ap"],
                    "connection_band": best["band"],
                    "connection_bssid": best["bssid"],
                    "connection_channel": best["channel"],
                    "connection_rssi": best["rssi"],
                    "last_seen": ts,
                    "mac": walker.mac,
                    "scan_data": items,
                    "site_id": self.site_id,
                },
            )
        ]
