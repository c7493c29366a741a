"""Load for the benchmarks: a synthetic Mist org (sites, maps, zones, APs, clients, beacons), webhook bodies
of its location, RSSI and zone events with current timestamps, and `wrk` driving the HTTP servers.

`wrk` (C, one thread, keep-alive connections) posts pre-signed bodies from a file through a Lua script; a
Python client on a 2-core machine would cap below the server it measures. With a rate, the script paces the
requests (a schedule of send times, `delay()`), so that latency is measured at a given load, not at
saturation.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingest.signature import SIGNATURE_V2, sign

EVENTS_PER_BODY = 10
# Share of events by topic in the pipeline and end-to-end loads.
MIX = (("location", 0.5), ("discovered-raw-rssi", 0.4), ("zone", 0.1))


def _mac(rnd: random.Random) -> str:
    # Locally administered unicast, as randomised client MACs are.
    first = (rnd.getrandbits(8) & 0xFC) | 0x02
    return f"{first:02x}{rnd.getrandbits(40):010x}"


def _uuid(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


@dataclass
class Map:
    id: str
    site_id: str
    zones: list[str]
    aps: list[str]  # AP MACs
    width_m: float = 60.0
    height_m: float = 40.0


@dataclass
class World:
    """An org of `sites` sites with `maps_per_site` maps, each with zones and APs; client and beacon MACs."""

    seed: int = 1
    sites: int = 4
    maps_per_site: int = 2
    zones_per_map: int = 4
    aps_per_map: int = 8
    clients: int = 20_000
    beacons: int = 5_000
    org_id: str = ""
    site_ids: list[str] = field(default_factory=list)
    maps: list[Map] = field(default_factory=list)
    client_macs: list[str] = field(default_factory=list)
    beacon_macs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rnd = random.Random(self.seed)
        self.org_id = _uuid(rnd)
        self.site_ids = [_uuid(rnd) for _ in range(self.sites)]
        for site in self.site_ids:
            for _ in range(self.maps_per_site):
                zones = [_uuid(rnd) for _ in range(self.zones_per_map)]
                aps = [_mac(rnd) for _ in range(self.aps_per_map)]
                self.maps.append(Map(_uuid(rnd), site, zones, aps))
        self.client_macs = [_mac(rnd) for _ in range(self.clients)]
        self.beacon_macs = [_mac(rnd) for _ in range(self.beacons)]

    def reference(self) -> dict[str, list[dict[str, Any]]]:
        """Sites, maps and zones shaped as Mist's API answers them."""
        sites = [
            {
                "id": site,
                "name": f"Site {i}",
                "org_id": self.org_id,
                "timezone": "Europe/Paris",
                "country_code": "FR",
                "latlng": {"lat": 48.85 + i / 100, "lng": 2.35},
            }
            for i, site in enumerate(self.site_ids)
        ]
        maps = [
            {
                "id": m.id,
                "site_id": m.site_id,
                "org_id": self.org_id,
                "name": f"Floor {i}",
                "type": "image",
                "ppm": 40.0,
                "width": int(m.width_m * 40),
                "height": int(m.height_m * 40),
                "width_m": m.width_m,
                "height_m": m.height_m,
            }
            for i, m in enumerate(self.maps)
        ]
        zones = [
            {
                "id": zone,
                "map_id": m.id,
                "site_id": m.site_id,
                "org_id": self.org_id,
                "name": f"Zone {j}",
                "vertices": [{"x": 0, "y": 0}, {"x": 100, "y": 0}, {"x": 100, "y": 100}, {"x": 0, "y": 100}],
            }
            for m in self.maps
            for j, zone in enumerate(m.zones)
        ]
        return {"sites": sites, "maps": maps, "zones": zones}


@dataclass(frozen=True, slots=True)
class Body:
    mist_topic: str
    raw: bytes
    events: int
    site_id: str


class Generator:
    """Bodies of one site and map each, EVENTS_PER_BODY events, timestamps around `now` (distinct events:
    nothing is dropped as a duplicate)."""

    def __init__(self, world: World, seed: int = 2) -> None:
        self.world = world
        self.rnd = random.Random(seed)
        self.members: dict[tuple[str, str], float] = {}  # (zone, member) -> entered at, while inside
        self.tick = 0.0  # zone events' times step forward: no two of a member and zone are alike

    def location_event(self, m: Map, now: float, mac: str | None = None) -> dict[str, Any]:
        rnd = self.rnd
        return {
            "id": _uuid(rnd),
            "mac": mac or rnd.choice(self.world.client_macs),
            "map_id": m.id,
            "site_id": m.site_id,
            "name": "",
            "type": "wifi",
            "timestamp": round(now - rnd.random() * 5, 3),
            "x": round(rnd.random() * m.width_m, 2),
            "y": round(rnd.random() * m.height_m, 2),
        }

    def rssi_event(self, m: Map, now: float) -> dict[str, Any]:
        rnd = self.rnd
        ap = rnd.choice(m.aps)
        return {
            "ap_loc": [round(rnd.random() * m.width_m, 2), round(rnd.random() * m.height_m, 2), 2.75],
            "beam": rnd.randint(1, 8),
            "device_id": f"00000000-0000-0000-1000-{ap}",
            "is_asset": False,
            "mac": rnd.choice(self.world.beacon_macs),
            "map_id": m.id,
            "org_id": self.world.org_id,
            "rssi": rnd.randint(-95, -40),
            "site_id": m.site_id,
            "timestamp": round(now - rnd.random() * 5, 3),
        }

    def zone_event(self, m: Map, now: float) -> dict[str, Any]:
        rnd = self.rnd
        zone = rnd.choice(m.zones)
        mac = rnd.choice(self.world.client_macs)
        self.tick += 0.001
        ts = now - 60 + self.tick
        entered = self.members.pop((zone, mac), None)
        if entered is None:
            self.members[(zone, mac)] = ts
        return {
            "site_id": m.site_id,
            "map_id": m.id,
            "zone_id": zone,
            "trigger": "enter" if entered is None else "exit",
            "timestamp": round(ts, 3),
            "type": "wifi",
            "mac": mac,
        }

    def body(self, mist_topic: str, now: float, events: int = EVENTS_PER_BODY) -> Body:
        m = self.rnd.choice(self.world.maps)
        make = {"location": self.location_event, "discovered-raw-rssi": self.rssi_event}.get(
            mist_topic, self.zone_event
        )
        raw = orjson.dumps({"topic": mist_topic, "events": [make(m, now) for _ in range(events)]})
        return Body(mist_topic, raw, events, m.site_id)

    def mixed(self, n_events: int, now: float) -> list[Body]:
        """Bodies holding `n_events` events by MIX, shuffled as Mist would interleave its topics."""
        bodies = []
        for topic, share in MIX:
            todo = round(n_events * share)
            while todo > 0:
                count = min(EVENTS_PER_BODY, todo)
                bodies.append(self.body(topic, now, count))
                todo -= count
        self.rnd.shuffle(bodies)
        return bodies


# -- wrk -------------------------------------------------------------------------------------------------

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } mp_timespec;
int clock_gettime(int clk_id, mp_timespec *tp);
]]
local ts = ffi.new("mp_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local requests, n, i = {}, 0, 0
local interval = tonumber(os.getenv("MP_INTERVAL_MS") or "0")
local next_at = nil

function init(args)
  local path = os.getenv("MP_PATH")
  for line in io.lines(os.getenv("MP_BODIES")) do
    local sig, body = line:match("^(%x+)\t(.*)$")
    n = n + 1
    requests[n] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "Mist-webhook",
      ["X-Mist-Signature-v2"] = sig,
    }, body)
  end
end

function request()
  i = i % n + 1
  return requests[i]
end

if interval > 0 then
  -- A schedule of send times, one every `interval` ms per thread: a free connection waits for its slot.
  function delay()
    local now = now_ms()
    if next_at == nil then next_at = now end
    local wait = next_at - now
    next_at = next_at + interval
    if wait < 0 then return 0 end
    return wait
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'MPRESULT {"duration_us": %d, "requests": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %d}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    seconds: float
    requests: int
    ok: int  # answered 2xx
    errors: int  # non-2xx answers and socket errors
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        return (
            f"{self.ok_per_s:,.0f} bodies/s ({self.ok} ok, {self.errors} errors in {self.seconds:.1f}s); "
            f"latency p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.1f} ms"
        )


def write_bodies(path: Path, bodies: list[bytes], secret: str) -> Path:
    """One `<hex HMAC-SHA256>\\t<body>` line per body, for the Lua script."""
    with open(path, "wb") as out:
        for raw in bodies:
            out.write(sign(raw, secret)[SIGNATURE_V2].encode() + b"\t" + raw + b"\n")
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk not found: install it (apt-get install wrk); .ci/run does")
    return found


def run_wrk(
    url: str,
    bodies_file: Path,
    seconds: float,
    connections: int = 32,
    rate: float | None = None,
    workdir: Path | None = None,
) -> WrkResult:
    """POST the bodies of `bodies_file` in turn for `seconds` over `connections` keep-alive connections (one
    wrk thread); with `rate`, at most that many requests per second, on a schedule."""
    from urllib.parse import urlsplit

    workdir = workdir or bodies_file.parent
    script = workdir / "post.lua"
    script.write_text(LUA)
    parts = urlsplit(url)
    env = {
        "MP_BODIES": str(bodies_file),
        "MP_PATH": parts.path,
        "MP_INTERVAL_MS": f"{1000.0 / rate:.6f}" if rate else "0",
        "PATH": "/usr/bin:/bin",
    }
    base = f"{parts.scheme}://{parts.netloc}"
    cmd = [
        wrk_binary(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MPRESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    data = json.loads(line.split(" ", 1)[1])
    errors = data["status_errors"] + data["socket_errors"]
    return WrkResult(
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        ok=data["requests"] - data["status_errors"],
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
