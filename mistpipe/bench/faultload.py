"""A workload with known aggregates: bodies of RSSI, location and zone events, and the answers of the query
API once each event was counted once, worked out by a small model of its own (independent of the pipeline's
code): RSSI windows (count, sum, min, max, last per AP), the last location of each client, the members and
the visit windows of one zone. Every event has its own timestamp, so no two are duplicates of each other,
and the whole workload spans less than the zone late-arrival horizon (MISTPIPE_DEDUPE_SECONDS, 600 s):
whatever order the bodies arrive in, an uninterrupted run answers `expected`. The fault tests and
`mistpipe bench faults` use it.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from mistpipe.bench.common import http_json
from topics.catalogue import lookup

SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"  # the bundled reference data: site, map and zone
MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
LOBBY = "8ac84899-32db-6327-334c-9b6d58544cfe"
ORG = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
PPM = 40.94
APS = ("5c5b350e55c8", "5c5b35513227", "5c5b35000003", "5c5b35000004")
RSSI_WINDOW_S = 60.0  # the defaults of the worker
VISIT_WINDOW_S = 900.0
STEP_S = 1 / 32  # event time between two events: exact in binary, so sums and dwells are exact too
TOPIC_WEIGHTS = {"discovered-raw-rssi": 6, "location": 2, "zone": 2}


@dataclass
class Workload:
    bodies: list[tuple[str, bytes]]  # (mist topic, body)
    events: list[tuple[str, dict]]  # (mist topic, event), in the order generated
    expected: dict[str, object]  # query path -> the answer of an uninterrupted run
    beacons: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # the site of each body: its record key

    @property
    def paths(self) -> list[str]:
        return list(self.expected)

    def jsonl(self, path: Path) -> Path:
        """The bodies as a JSON-lines recording, as `mistpipe replay` reads them."""
        path.write_bytes(b"".join(body + b"\n" for _, body in self.bodies))
        return path


def sites_on_partitions(partitions: int) -> list[str]:
    """Site ids, the bundled site first, whose state lands on every partition of `partitions` (the worker
    keeps state per site partition: murmur2 of the site as JSON, as the ingest keys a body)."""
    from aiokafka.partitioner import DefaultPartitioner

    from topics.serde import encode_key

    every = list(range(partitions))
    found = {DefaultPartitioner()(encode_key(SITE), every, every): SITE}
    n = 0
    while len(found) < partitions:
        site = f"00000000-0000-4000-8000-{n:012x}"
        found.setdefault(DefaultPartitioner()(encode_key(site), every, every), site)
        n += 1
    return [SITE, *sorted(s for s in found.values() if s != SITE)]


def workload(
    seed: int,
    events: int,
    per_body: int = 10,
    beacons: int = 30,
    clients: int = 20,
    members: int = 20,
    base: float | None = None,
    sites: list[str] | None = None,
) -> Workload:
    """`events` events in bodies of `per_body`, RSSI, locations and zone enter/exit, at current times.
    Beacons and clients are spread over `sites` (the bundled site only, by default; only it has reference
    data, a map and the zone), each in one site, and a body holds one site's events, as Mist sends them."""
    sites = sites or [SITE]
    assert events * STEP_S < 600, "the workload must fit in the zone late-arrival horizon"
    rng = random.Random(seed)
    if base is None:  # current times, on a window boundary, ending about now
        base = math.floor((time.time() - events * STEP_S) / VISIT_WINDOW_S) * VISIT_WINDOW_S
    beacon_macs = [f"b0{seed % 256:02x}0000{i:04x}" for i in range(beacons)]
    client_macs = [f"c0{seed % 256:02x}0000{i:04x}" for i in range(clients)]
    member_macs = [f"d0{seed % 256:02x}0000{i:04x}" for i in range(members)]
    site_of = {
        mac: sites[k % len(sites)] for macs in (beacon_macs, client_macs) for k, mac in enumerate(macs)
    }
    beacons_in = {site: [m for m in beacon_macs if site_of[m] == site] for site in sites}
    clients_in = {site: [m for m in client_macs if site_of[m] == site] for site in sites}
    inside: dict[str, float] = {}
    out_bodies: list[tuple[str, bytes]] = []
    out_sites: list[str] = []
    out_events: list[tuple[str, dict]] = []
    topics, weights = zip(*TOPIC_WEIGHTS.items(), strict=True)
    i = 0
    while i < events:
        topic = rng.choices(topics, weights)[0]
        site = SITE if topic == "zone" else rng.choice(sites)  # the Lobby is the bundled site's
        batch = []
        for _ in range(min(per_body, events - i)):
            ts = base + i * STEP_S
            i += 1
            if topic == "discovered-raw-rssi":
                event = {
                    "site_id": site,
                    "map_id": MAP if site == SITE else f"map-of-{site}",
                    "org_id": ORG,
                    "mac": rng.choice(beacons_in[site]),
                    "device_id": f"00000000-0000-0000-1000-{rng.choice(APS)}",
                    "rssi": rng.randint(-95, -40),
                    "timestamp": ts,
                    "beam": rng.randint(1, 8),
                }
            elif topic == "location":
                event = {
                    "site_id": site,
                    "map_id": MAP if site == SITE else f"map-of-{site}",
                    "mac": rng.choice(clients_in[site]),
                    "id": "client",
                    "type": "wifi",
                    "timestamp": ts,
                    "x": rng.randint(0, 400) / 4,
                    "y": rng.randint(0, 400) / 4,
                }
            else:
                member = rng.choice(member_macs)
                trigger = "exit" if member in inside else "enter"
                if trigger == "enter":
                    inside[member] = ts
                else:
                    del inside[member]
                event = {
                    "site_id": SITE,
                    "map_id": MAP,
                    "zone_id": LOBBY,
                    "type": "wifi",
                    "mac": member,
                    "trigger": trigger,
                    "timestamp": ts,
                }
            lookup(topic).model.model_validate(event)  # a valid event, or the generator is wrong
            batch.append(event)
            out_events.append((topic, event))
        out_bodies.append((topic, orjson.dumps({"topic": topic, "events": batch})))
        out_sites.append(site)
    work = Workload(out_bodies, out_events, {}, beacon_macs, client_macs, member_macs, out_sites)
    work.expected = expected_answers(out_events, beacon_macs, client_macs)
    return work


def expected_answers(
    events: Iterable[tuple[str, dict]], beacons: list[str], clients: list[str]
) -> dict[str, object]:
    """What the query API answers once every event was counted once (events in event-time order)."""
    rssi: dict[str, dict[float, dict[str, dict]]] = {}
    locations: dict[str, dict] = {}
    stays: dict[str, float] = {}
    visits: dict[float, list[float]] = {}
    for topic, e in sorted(events, key=lambda te: te[1]["timestamp"]):
        ts = e["timestamp"]
        if topic == "discovered-raw-rssi":
            start = math.floor(ts / RSSI_WINDOW_S) * RSSI_WINDOW_S
            ap = e["device_id"].rsplit("-", 1)[1]
            value = float(e["rssi"])
            s = rssi.setdefault(e["mac"], {}).setdefault(float(start), {}).get(ap)
            if s is None:
                s = {"count": 0, "sum": 0.0, "min": value, "max": value, "last": value}
                rssi[e["mac"]][float(start)][ap] = s
            s.update(
                count=s["count"] + 1,
                sum=s["sum"] + value,
                min=min(s["min"], value),
                max=max(s["max"], value),
                last=value,
            )
        elif topic == "location":
            known = e["site_id"] == SITE  # only the bundled site has reference data (a map with a ppm)
            locations[e["mac"]] = {
                "key": e["mac"],
                "type": "wifi",
                "site_id": e["site_id"],
                "site_name": "Mist Office" if known else None,
                "map_id": e["map_id"],
                "map_name": "Floor 1" if known else None,
                "x": e["x"],
                "y": e["y"],
                "x_px": e["x"] * PPM if known else None,
                "y_px": e["y"] * PPM if known else None,
                "timestamp": ts,
            }
        elif e["trigger"] == "enter":
            stays[e["mac"]] = ts
        else:
            entered = stays.pop(e["mac"])
            visits.setdefault(math.floor(ts / VISIT_WINDOW_S) * VISIT_WINDOW_S, []).append(ts - entered)
    expected: dict[str, object] = {}
    for mac in beacons:
        windows = [
            {"start": start, "end": start + RSSI_WINDOW_S, "aps": {ap: aps[ap] for ap in sorted(aps)}}
            for start, aps in sorted(rssi.get(mac, {}).items())
        ]
        expected[f"/v1/rssi/{mac}"] = (
            {"mac": mac, "windows": windows} if windows else {"error": f"no RSSI samples of {mac}"}
        )
    for mac in clients:
        expected[f"/v1/locations/{mac}"] = locations.get(mac, {"error": f"no location for {mac}"})
    members = [{"member": m, "type": "wifi", "entered": stays[m]} for m in sorted(stays)]
    expected[f"/v1/zones/{LOBBY}/occupancy"] = {
        "zone_id": LOBBY,
        "zone_name": "Lobby",
        "site_id": SITE,
        "count": len(members),
        "members": members,
        "exits_ignored": 0,
        "alert": None,
    }
    expected[f"/v1/zones/{LOBBY}/visits"] = {
        "zone_id": LOBBY,
        "windows": [
            {
                "start": float(start),
                "end": start + VISIT_WINDOW_S,
                "visits": len(dwells),
                "dwell_total_s": math.fsum(dwells),
                "dwell_max_s": max(dwells),
            }
            for start, dwells in sorted(visits.items())
        ],
    }
    return expected


# -- queries and metrics -------------------------------------------------------------------------------------


def answers(port: int, paths: Iterable[str], headers: dict | None = None) -> dict[str, object]:
    return {path: http_json(f"http://127.0.0.1:{port}{path}", headers=headers)[1] for path in paths}


async def wait_for_answers(
    port: int, expected: dict[str, object], timeout: float = 120, headers: dict | None = None
) -> dict[str, object]:
    """Poll until the worker answers every path as expected (the pipeline is asynchronous); the answers."""
    deadline = time.monotonic() + timeout
    while True:
        got = await asyncio.to_thread(answers, port, expected, headers)
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(1.0)


def differences(got: dict[str, object], expected: dict[str, object], limit: int = 8) -> list[str]:
    """The first few places where the answers differ, down to the field, for an assertion message."""
    found: list[str] = []

    def walk(where: str, a: object, b: object) -> None:
        if len(found) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(f"{where}.{k}", a.get(k, "<missing>"), b.get(k, "<missing>"))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(f"{where}[{i}]", x, y)
        else:
            found.append(f"{where}: got {a!r:.200}, expected {b!r:.200}")

    for path, answer in expected.items():
        walk(path, got.get(path, "<missing>"), answer)
    return found
