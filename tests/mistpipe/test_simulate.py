"""The site simulator: valid Mist bodies, batched and signed as Mist sends them, seeded, zones that follow the
dots, RSSI that falls with distance; and, against a real broker and workers, aggregates equal to what the
simulator says it sent."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict

import orjson
from aiohttp import web
from sim_support import MAP, SITE, ZONES, api, load_reference, run_simulation, wait_until
from support import REPO, free_port, http_json, run_cli

from ingest.replay import load_bodies
from ingest.signature import verify
from mistpipe.localkafka import LocalBroker
from mistpipe.simulator import DEFAULT_REFERENCE
from mistpipe.simulator.expected import Expected, from_run
from mistpipe.simulator.run import batches_of, simulate
from mistpipe.simulator.world import World, rssi_at
from pipeline.parse import parse_body
from pipeline.reference import read_files
from topics.catalogue import lookup

START = 1_795_000_000.0  # a multiple of 60 and 900


def reference() -> dict:
    return read_files([f for p in DEFAULT_REFERENCE for f in sorted(p.glob("*.json"))])


def world(seed: int = 1, **kwargs) -> World:
    return World(reference(), start=START, seed=seed, **kwargs)


def bodies_of(seconds: float, seed: int = 1, **kwargs) -> list[tuple[float, bytes]]:
    return batches_of(world(seed, **kwargs), START + seconds, seed)


def in_polygon(x: float, y: float, vertices: list[tuple[float, float]]) -> bool:
    """Ray casting, written again here so that the test does not trust the simulator's own."""
    count = 0
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            count += 1
    return count % 2 == 1


# -- the bodies ------------------------------------------------------------------------------------------


def test_every_body_is_a_valid_mist_body_of_every_promised_topic():
    topics = Counter()
    for _, raw in bodies_of(600):
        body = orjson.loads(raw)
        parsed = parse_body(raw)
        assert not parsed.dead, parsed.dead[:1]
        assert len(parsed.events) == len(body["events"])
        topics[body["topic"]] += len(body["events"])
        # Spec-required fields, beyond what parsing insists on: each model validates each event strictly.
        model = lookup(body["topic"]).model
        for event in body["events"]:
            model.model_validate(event)
    assert set(topics) == {
        "location",
        "zone",
        "discovered-raw-rssi",
        "asset-raw-rssi",
        "sdkclient-scan-data",
        "device-updowns",
        "device-events",
        "client-join",
        "client-sessions",
        "ping",
    }
    assert topics["zone"] > 50 and topics["location"] > 1000


def test_required_fields_of_the_spec_are_there():
    found = defaultdict(list)
    for _, raw in bodies_of(600):
        body = orjson.loads(raw)
        found[body["topic"]] += body["events"]
    assert all("site_name" in e for e in found["device-updowns"])
    assert all("device_name" in e and "device_type" in e for e in found["device-events"])
    assert all(item["timestamp"] for e in found["sdkclient-scan-data"] for item in e["scan_data"])
    assert all(e["device_id"].startswith("00000000-0000-0000-1000-") for e in found["discovered-raw-rssi"])
    assert all(isinstance(e["mfg_company_id"], str) for e in found["discovered-raw-rssi"])
    assert all(isinstance(e["mfg_company_id"], int) for e in found["asset-raw-rssi"])
    assert all(e["next_ap"] and e["termination_reason"] == 3 for e in found["client-sessions"])
    by_type = Counter(e["type"] for e in found["location"])
    assert set(by_type) == {"wifi", "sdk", "asset"}
    assert all("mac" not in e and e["id"] for e in found["location"] if e["type"] == "sdk")


def test_batched_per_topic_within_five_seconds():
    bodies = bodies_of(600)
    sizes = []
    for sent_at, raw in bodies:
        body = orjson.loads(raw)
        times = [e.get("timestamp", e.get("last_seen")) for e in body["events"]]
        assert 0 <= sent_at - min(times) <= 5.0 + 1e-6, body["topic"]
        assert max(times) <= sent_at + 1.0  # (AP_CONFIGURED is stamped 1 s after its reconnect)
        assert len(body["events"]) <= 100
        sizes.append(len(body["events"]))
    assert sum(s > 1 for s in sizes) > len(sizes) / 2  # several events per POST, mostly
    assert [t for t, _ in bodies] == sorted(t for t, _ in bodies)


def test_seeded_runs_repeat_and_seeds_differ():
    assert bodies_of(120, seed=5) == bodies_of(120, seed=5)
    assert bodies_of(120, seed=5) != bodies_of(120, seed=6)


def test_zone_enter_exit_follow_the_dots():
    """Every zone event is at the time of a location of its member, inside the zone (pixels ÷ ppm) on enter
    and outside on exit; per member and zone, enters and exits alternate, starting with an enter."""
    ref = reference()
    ppm = ref["maps"][0]["ppm"]
    polygons = {z["id"]: [(v["x"] / ppm, v["y"] / ppm) for v in z["vertices"]] for z in ref["zones"]}
    located = {}
    zone_events = []
    for _, raw in bodies_of(900):
        body = orjson.loads(raw)
        for e in body["events"]:
            if body["topic"] == "location":
                located[(e.get("mac") or e["id"], e["timestamp"])] = (e["x"], e["y"])
            elif body["topic"] == "zone":
                zone_events.append(e)
    assert {e["zone_id"] for e in zone_events} == set(polygons)  # every zone sees someone
    last = {}
    for e in sorted(zone_events, key=lambda e: e["timestamp"]):
        member = e.get("mac") or e["id"]
        x, y = located[(member, e["timestamp"])]
        assert in_polygon(x, y, polygons[e["zone_id"]]) == (e["trigger"] == "enter"), e
        previous = last.get((e["zone_id"], member), "exit")
        assert previous != e["trigger"], e
        last[(e["zone_id"], member)] = e["trigger"]
        if e["type"] == "asset":
            assert e["asset_id"] and e["name"]


def test_rssi_falls_with_distance_by_the_path_loss_model():
    w = world(beacons=8)
    positions = {b.mac: (b.x, b.y) for b in w.beacons}
    samples = []
    for _, raw in batches_of(w, START + 300):
        body = orjson.loads(raw)
        if body["topic"] == "discovered-raw-rssi":
            for e in body["events"]:
                bx, by = positions[e["mac"]]
                ax, ay, az = e["ap_loc"]
                distance = math.dist((bx, by, 1.0), (ax, ay, az))
                samples.append((distance, e["rssi"]))
                assert e["rssi"] >= -88
    near = [r for d, r in samples if d < 6]
    far = [r for d, r in samples if d > 12]
    assert near and far and sum(near) / len(near) > sum(far) / len(far) + 8
    # Noise around the model: the mean error is small.
    errors = [r - rssi_at(d, -59.0, 2.6) for d, r in samples if d < 8]
    assert abs(sum(errors) / len(errors)) < 1.5
    # A beacon is heard by a few APs, not by every AP of the floor.
    heard = [len(w.heard_ble(b.x, b.y)) for b in w.beacons for _ in range(20)]
    assert 1 <= sum(heard) / len(heard) < len(w.aps) - 1


# -- sending -------------------------------------------------------------------------------------------


async def test_posts_are_signed_and_the_log_is_what_was_sent(tmp_path):
    secret = "sim-secret"
    received: list[bytes] = []
    first = True

    async def webhook(request: web.Request) -> web.Response:
        nonlocal first
        body = await request.read()
        if not verify(body, request.headers, [secret.encode()]):
            return web.Response(status=401)
        assert request.headers["User-Agent"] == "Mist-webhook"
        if first:  # a 503 is retried, as Mist retries
            first = False
            return web.Response(status=503, headers={"Retry-After": "0"})
        received.append(body)
        return web.json_response({"accepted": len(orjson.loads(body)["events"])})

    app = web.Application()
    app.router.add_post("/webhooks/mist", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        out = tmp_path / "run"
        w = world(seed=3)
        report = await simulate(
            w, f"http://127.0.0.1:{port}/webhooks/mist", secret, rate=0, seconds=180, seed=3, out=out
        )
    finally:
        await runner.cleanup()
    assert report.bodies == len(received) and report.accepted == report.bodies and not report.failed
    assert load_bodies([out / "sent.jsonl"]) == received  # replayable: `mistpipe replay sent.jsonl`
    assert received == [body for _, body in batches_of(world(seed=3), START + 180, 3)]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["bodies"] == len(received) and summary["failed"] == []
    assert summary["map_id"] == MAP and summary["site_id"] == SITE and len(summary["zones"]) == ZONES
    expected = Expected()
    for body in received:
        expected.add(orjson.loads(body))
    assert summary["expected"] == expected.summary() == from_run(out).summary()
    assert sum(summary["events"].values()) == sum(expected.events.values())


async def test_event_time_runs_at_the_given_rate(tmp_path):
    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/webhooks/mist", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        began = time.monotonic()
        report = await simulate(
            world(clients=3, assets=1, beacons=1),
            f"http://127.0.0.1:{port}/webhooks/mist",
            None,
            rate=20,
            seconds=40,
        )
        took = time.monotonic() - began
    finally:
        await runner.cleanup()
    assert report.accepted == report.bodies > 0
    assert 1.5 <= took < 6, took  # 40 s of event time at 20x: about 2 s


def test_expected_pairs_enters_and_exits_and_counts_visits_by_exit_window():
    def zone(trigger: str, ts: float, mac: str) -> dict:
        return {
            "zone_id": "z",
            "map_id": MAP,
            "site_id": SITE,
            "type": "wifi",
            "mac": mac,
            "trigger": trigger,
            "timestamp": ts,
        }

    e = Expected()
    e.add(
        {"topic": "zone", "events": [zone("enter", 10, "a"), zone("exit", 70, "a"), zone("enter", 50, "b")]}
    )
    e.add({"topic": "zone", "events": [zone("exit", 70, "a")]})  # a duplicate counts once
    e.add(
        {"topic": "zone", "events": [zone("enter", 100, "a"), zone("exit", 130, "a"), zone("exit", 5, "c")]}
    )
    assert [m["member"] for m in e.occupancy()["z"]] == ["b"]
    assert e.visits()["z"] == [("a", 10.0, 70.0), ("a", 100.0, 130.0)]
    assert e.visit_windows(60)["z"] == [
        {"start": 60.0, "end": 120.0, "visits": 1, "dwell_total_s": 60.0, "dwell_max_s": 60.0},
        {"start": 120.0, "end": 180.0, "visits": 1, "dwell_total_s": 30.0, "dwell_max_s": 30.0},
    ]
    assert e.exits_ignored() == {"z": 1}


def test_simulate_is_a_command():
    result = run_cli("simulate", "--help")
    assert result.returncode == 0 and "--seconds" in result.stdout and "--rate" in result.stdout
    result = run_cli("simulate", "--url", f"http://127.0.0.1:{free_port()}/webhooks/mist", "--wait", "0.5")
    assert result.returncode != 0 and "nothing listens" in result.stderr


# -- against Kafka and two workers ---------------------------------------------------------------------


def zone_answers(port: int, zone_ids: list[str]) -> dict[str, object]:
    out = {}
    for zone in zone_ids:
        occupancy_status, occupancy = api(port, f"/v1/zones/{zone}/occupancy")
        visits_status, visits = api(port, f"/v1/zones/{zone}/visits")
        if occupancy_status != 200 or visits_status != 200:  # kept as it came, for the failure's message
            out[zone] = {"occupancy": (occupancy_status, occupancy), "visits": (visits_status, visits)}
            continue
        members = sorted((m["member"], m["type"], m["entered"]) for m in occupancy["members"])
        windows = [w for w in visits.get("windows", []) if w["visits"]]  # a retraction may leave an empty one
        out[zone] = {
            "count": occupancy["count"],
            "members": members,
            "windows": windows,
            "ignored": occupancy["exits_ignored"],
        }
    return out


def test_simulated_site_feeds_the_pipeline_and_the_api_answers_what_was_sent(
    deployment_factory, worker_factory, ingest_factory, tmp_path
):
    deployment = deployment_factory(partitions=8)
    load_reference(deployment)
    windows = {"MISTPIPE_VISIT_WINDOW_SECONDS": "60", "MISTPIPE_RSSI_WINDOW_SECONDS": "30"}
    workers = [worker_factory(deployment, **windows), worker_factory(deployment, **windows)]
    ingest = ingest_factory(deployment)
    out = tmp_path / "sim"
    printed = run_simulation(
        ingest,
        deployment,
        out,
        "--seconds",
        "240",
        "--rate",
        "0",
        "--start",
        "-250",
        "--seed",
        "7",
        "--beacons",
        "4",
    )
    assert "accepted" in printed
    expected = from_run(out)
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["failed"] == [] and summary["bodies"] > 50

    zone_ids = sorted(summary["zones"])
    want = {
        zone: {
            "count": len(expected.occupancy()[zone]),
            "members": sorted((m["member"], m["type"], m["entered"]) for m in expected.occupancy()[zone]),
            "windows": expected.visit_windows(60)[zone],
            "ignored": 0,
        }
        for zone in zone_ids
    }
    assert sum(w["count"] for w in want.values()) > 0 and sum(len(w["windows"]) for w in want.values()) > 3
    for worker in workers:  # any worker answers any zone
        # Generous: on a loaded machine a worker that lost its group (session timeout 60 s) rejoins, recovers.
        got = wait_until(lambda w=worker: zone_answers(w.port, zone_ids) == want and want, timeout=240)
        if not got:
            answers = zone_answers(worker.port, zone_ids)
            wrong = {zone: answers.get(zone) for zone in zone_ids if answers.get(zone) != want[zone]}
            raise AssertionError(f"worker {worker.port}, the zones answered wrong: {wrong}, expected {want}")

    # Where everyone is: the newest location of each, on the map.
    def located(port: int) -> dict:
        status, body = api(port, f"/v1/maps/{MAP}/locations?since=0")
        if status != 200:
            return {}
        return {r["key"]: {k: r[k] for k in ("type", "x", "y", "timestamp")} for r in body["locations"]}

    want_locations = {
        k: {f: v[f] for f in ("type", "x", "y", "timestamp")} for k, v in expected.locations.items()
    }
    for worker in workers:
        assert wait_until(lambda w=worker: located(w.port) == want_locations, timeout=60), located(
            worker.port
        )

    # RSSI windows per beacon and AP, and device status, as sent.
    rssi = expected.rssi_windows(30)
    for mac in summary["beacons"]:
        assert wait_until(
            lambda m=mac: api(workers[1].port, f"/v1/rssi/{m}")[1] == {"mac": m, "windows": rssi[m]}, 60
        ), mac
    for mac, device in expected.devices().items():
        assert wait_until(
            lambda m=mac, d=device: api(workers[0].port, f"/v1/devices/{m}/status")[1] == d, 60
        ), mac


def test_dev_runs_a_living_site_and_live_numbers_show_within_a_minute(unique):
    port, cport, ingest_port, web_port = free_port(), free_port(), free_port(), free_port()
    prefix = unique("devsim") + "."
    argv = [
        "dev",
        "--port",
        str(port),
        "--controller-port",
        str(cport),
        "--state-dir",
        str(REPO / ".mistpipe"),
    ]
    argv += ["--topic-prefix", prefix, "--partitions", "2", "--app-id", prefix.rstrip(".")]
    argv += ["--ingest-port", str(ingest_port), "--web-port", str(web_port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTPIPE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistpipe.cli", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    broker = LocalBroker(REPO / ".mistpipe", port=port, controller_port=cport)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "dev exited early:\n" + "".join(lines)
            lines.append(line)
            if "replay the samples:" in line:
                break
        started = time.monotonic()
        assert any(f"http://127.0.0.1:{web_port}/map" in line for line in lines), "".join(lines)

        def live() -> dict | None:
            status, body = http_json(f"http://127.0.0.1:{web_port}/v1/maps/{MAP}")
            _, located = http_json(f"http://127.0.0.1:{web_port}/v1/maps/{MAP}/locations")
            if status != 200 or not isinstance(located, dict):
                return None
            occupied = sum(z["occupancy"] for z in body["zones"])
            return body if occupied and len(located["locations"]) >= 16 else None

        assert wait_until(live, timeout=60), "no live numbers within a minute"
        assert time.monotonic() - started < 60
        status, page = http_json(f"http://127.0.0.1:{web_port}/")
        assert status == 200 and "live floor map" in page

        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "[dev] stopped" in out and "accepted" in out  # the simulator's last word
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)
        for datadir in (REPO / ".mistpipe").glob(f"worker-{prefix.rstrip('.')}-*"):
            shutil.rmtree(datadir, ignore_errors=True)
