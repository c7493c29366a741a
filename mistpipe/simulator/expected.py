"""What the query API should answer, computed from webhook bodies that were sent (and accepted).

Written from the README's description of the aggregates, not from the pipeline's code, so that a test
comparing the two checks one against the other:

- zone occupancy: members whose newest enter/exit (by event time) is an enter; a visit pairs an enter with
  the next exit; visits count in the tumbling window (of the worker's MISTPIPE_VISIT_WINDOW_SECONDS) that
  holds their exit time;
- locations: the newest location per entity (client/asset MAC, else SDK id);
- RSSI: per emitter MAC and tumbling window (MISTPIPE_RSSI_WINDOW_SECONDS), per AP (the MAC ending
  `device_id`, or each scanned `ap`) count, sum, min, max, and the newest sample's RSSI;
- device status: AP_CONNECTED up, AP_DISCONNECTED down, from the newest such event; the newest event's type.

Events repeated with identical content count once, as the pipeline deduplicates them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

LOCATION_TOPICS = {"location", "location-asset", "location-client", "location-unclient", "location-sdk"}
UP = {"AP_CONNECTED", "AP_RECONNECTED", "AP_RESTARTED"}
DOWN = {"AP_DISCONNECTED"}


def window_start(ts: float, size: float) -> float:
    return float(math.floor(ts / size) * size)


class Expected:
    """Feed it bodies (`add`), then ask what the aggregates hold."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self.zone_events: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.zone_member_type: dict[tuple[str, str], str] = {}
        self.locations: dict[str, dict[str, Any]] = {}
        self.rssi_samples: list[tuple[str, str, float, float]] = []  # mac, ap, rssi, ts
        self.device_events: dict[str, list[tuple[float, str]]] = {}
        self.events: dict[str, int] = {}

    def add(self, body: dict[str, Any]) -> None:
        topic = str(body["topic"]).replace("_", "-")
        for event in body["events"]:
            fingerprint = topic.encode() + b"\0" + orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
            if fingerprint in self._seen:
                continue
            self._seen.add(fingerprint)
            self.events[topic] = self.events.get(topic, 0) + 1
            self._add_event(topic, event)

    def _add_event(self, topic: str, event: dict[str, Any]) -> None:
        if topic == "zone":
            member = event.get("mac") or event.get("id") or event.get("asset_id")
            key = (event["zone_id"], member)
            self.zone_events.setdefault(key, []).append((float(event["timestamp"]), event["trigger"]))
            self.zone_member_type[key] = event.get("type")
        elif topic in LOCATION_TOPICS:
            key = event.get("mac") or event.get("id")
            old = self.locations.get(key)
            if old is None or float(event["timestamp"]) > old["timestamp"]:
                self.locations[key] = {
                    "key": key,
                    "type": event.get("type"),
                    "map_id": event.get("map_id"),
                    "x": event["x"],
                    "y": event["y"],
                    "timestamp": float(event["timestamp"]),
                }
        elif topic in ("discovered-raw-rssi", "asset-raw-rssi", "asset-raw"):
            ap = str(event["device_id"]).rpartition("-")[2].lower()
            self.rssi_samples.append((event["mac"], ap, float(event["rssi"]), float(event["timestamp"])))
        elif topic == "sdkclient-scan-data":
            for item in event.get("scan_data") or ():
                ts = item.get("timestamp", event["last_seen"])
                self.rssi_samples.append((event["mac"], item["ap"], float(item["rssi"]), float(ts)))
        elif topic in ("device-updowns", "device-events"):
            mac = event.get("mac") or event.get("ap")
            self.device_events.setdefault(mac, []).append((float(event["timestamp"]), event["type"]))

    # -- zones -------------------------------------------------------------------------------------------

    def _runs(self) -> dict[tuple[str, str], tuple[bool, float | None, list[tuple[float, float]], int]]:
        """(zone, member) → (inside, entered, visits [(entered, exited)], exits without an enter)."""
        out = {}
        for key, events in self.zone_events.items():
            inside, entered, visits, ignored = False, None, [], 0
            # At one instant an enter comes before an exit ("enter" < "exit").
            for ts, trigger in sorted(events):
                if trigger == "enter" and not inside:
                    inside, entered = True, ts
                elif trigger == "exit" and inside:
                    visits.append((entered, ts))
                    inside, entered = False, None
                elif trigger == "exit":
                    ignored += 1
            out[key] = (inside, entered, visits, ignored)
        return out

    def zone_ids(self) -> list[str]:
        return sorted({zone for zone, _ in self.zone_events})

    def occupancy(self) -> dict[str, list[dict[str, Any]]]:
        """zone id → members inside, [{member, type, entered}] in member order."""
        out: dict[str, list[dict[str, Any]]] = {zone: [] for zone in self.zone_ids()}
        for (zone, member), (inside, entered, _, _) in sorted(self._runs().items()):
            if inside:
                out[zone].append(
                    {"member": member, "type": self.zone_member_type[(zone, member)], "entered": entered}
                )
        return out

    def visits(self) -> dict[str, list[tuple[str, float, float]]]:
        """zone id → every completed visit (member, entered, exited), in that order."""
        out: dict[str, list[tuple[str, float, float]]] = {zone: [] for zone in self.zone_ids()}
        for (zone, member), (_, _, visits, _) in sorted(self._runs().items()):
            out[zone] += [(member, entered, exited) for entered, exited in visits]
        for visits in out.values():
            visits.sort()
        return out

    def visit_windows(self, size: float) -> dict[str, list[dict[str, Any]]]:
        """zone id → windows as GET /v1/zones/{id}/visits lists them (windows with visits only)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for zone, visits in self.visits().items():
            windows: dict[float, list[float]] = {}
            for _, entered, exited in visits:
                windows.setdefault(window_start(exited, size), []).append(exited - entered)
            out[zone] = [
                {
                    "start": start,
                    "end": start + size,
                    "visits": len(dwells),
                    "dwell_total_s": math.fsum(dwells),
                    "dwell_max_s": max(dwells),
                }
                for start, dwells in sorted(windows.items())
            ]
        return out

    def exits_ignored(self) -> dict[str, int]:
        out: dict[str, int] = {zone: 0 for zone in self.zone_ids()}
        for (zone, _), (_, _, _, ignored) in self._runs().items():
            out[zone] += ignored
        return out

    # -- RSSI and devices --------------------------------------------------------------------------------

    def rssi_windows(self, size: float) -> dict[str, list[dict[str, Any]]]:
        """emitter MAC → windows as GET /v1/rssi/{mac} lists them."""
        stats: dict[str, dict[float, dict[str, dict[str, Any]]]] = {}
        for mac, ap, rssi, ts in self.rssi_samples:
            window = stats.setdefault(mac, {}).setdefault(window_start(ts, size), {})
            s = window.get(ap)
            if s is None:
                window[ap] = {"count": 1, "sum": rssi, "min": rssi, "max": rssi, "last": rssi, "_ts": ts}
                continue
            s["count"] += 1
            s["sum"] += rssi
            s["min"], s["max"] = min(s["min"], rssi), max(s["max"], rssi)
            if (ts, rssi) > (s["_ts"], s["last"]):
                s["last"], s["_ts"] = rssi, ts
        return {
            mac: [
                {
                    "start": start,
                    "end": start + size,
                    "aps": {
                        ap: {k: v for k, v in window[ap].items() if not k.startswith("_")}
                        for ap in sorted(window)
                    },
                }
                for start, window in sorted(windows.items())
            ]
            for mac, windows in stats.items()
        }

    def devices(self) -> dict[str, dict[str, Any]]:
        """device MAC → {mac, status, last_type, timestamp}."""
        out = {}
        for mac, events in self.device_events.items():
            ordered = sorted(events)
            status = "unknown"
            for _, kind in ordered:
                if kind in UP:
                    status = "up"
                elif kind in DOWN:
                    status = "down"
            ts, last = ordered[-1]
            out[mac] = {"mac": mac, "status": status, "last_type": last, "timestamp": ts}
        return out

    def summary(self, visit_window_s: float | None = None) -> dict[str, Any]:
        """The JSON-able gist: events per topic, occupancy and visits per zone, and (with a window size)
        the visit windows the query API should list."""
        out: dict[str, Any] = {
            "events": dict(sorted(self.events.items())),
            "zones": {
                zone: {
                    "occupancy": len(members),
                    "members": [m["member"] for m in members],
                    "visits": len(self.visits()[zone]),
                }
                for zone, members in self.occupancy().items()
            },
            "locations": len(self.locations),
            "devices": {mac: d["status"] for mac, d in sorted(self.devices().items())},
        }
        if visit_window_s:
            out["visit_windows"] = self.visit_windows(visit_window_s)
        return out


def read_log(path: Path, skip: Iterable[int] = ()) -> list[dict[str, Any]]:
    """The bodies of a simulator log (JSON lines, one body each, as sent), less the lines (0-based) in
    `skip`: those not accepted."""
    skipped = set(skip)
    return [
        orjson.loads(line)
        for n, line in enumerate(Path(path).read_bytes().splitlines())
        if line.strip() and n not in skipped
    ]


def from_run(out_dir: Path) -> Expected:
    """What the aggregates should hold after a simulator run that wrote `out_dir` (sent.jsonl and
    summary.json): every accepted body of its log."""
    summary = orjson.loads((Path(out_dir) / "summary.json").read_bytes())
    expected = Expected()
    for body in read_log(Path(out_dir) / "sent.jsonl", (f["line"] for f in summary["failed"])):
        expected.add(body)
    return expected
