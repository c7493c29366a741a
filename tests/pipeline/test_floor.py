"""The live floor map: its JSON with two workers and a query token, and the page itself in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) during a simulation.

The browser test saves a screenshot in its tmp dir; with MISTPIPE_UPDATE_SCREENSHOT=1 also as
docs/floor-map.png (the one the README shows), so that a test run does not change a tracked file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from sim_support import MAP, SITE, ZONES, api, load_reference, run_simulation, start_simulation, wait_until
from support import REPO, http_status

from mistpipe.simulator.expected import from_run, window_start
from pipeline.floor import current_window, strongest

TOKEN = "floor-test-token"
CHROMIUM = "/usr/bin/chromium"
# As the machine notes say Debian's Chromium runs here: headless, and no background networking, whose
# connections this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_floor_api_answers_with_two_workers_behind_the_token(
    deployment_factory, worker_factory, ingest_factory, tmp_path
):
    deployment = deployment_factory(partitions=8)
    load_reference(deployment)
    workers = [worker_factory(deployment, MISTPIPE_QUERY_TOKEN=TOKEN) for _ in range(2)]
    ingest = ingest_factory(deployment)
    out = tmp_path / "sim"
    run_simulation(
        ingest, deployment, out, "--seconds", "150", "--rate", "0", "--start", "-160", "--seed", "11"
    )
    expected = from_run(out)
    occupancy = expected.occupancy()
    port = workers[0].port

    # The page is served without the token (it holds no data); every JSON answer asks for it.
    for path in ("/", "/map"):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"/static/map.js" in response.read()
    assert http_status(f"http://127.0.0.1:{port}/static/map.js") == 200
    assert http_status(f"http://127.0.0.1:{port}/static/map.css") == 200
    assert http_status(f"http://127.0.0.1:{port}/static/../app.py") == 404
    for path in ("/v1/sites", "/v1/maps", f"/v1/maps/{MAP}", "/v1/rssi", "/v1/local/rssi"):
        assert api(port, path)[0] == 401, path
        assert api(port, path, "wrong")[0] == 401, path

    status, sites = api(port, "/v1/sites", TOKEN)
    assert status == 200
    assert sites["sites"] == [
        {
            "id": SITE,
            "name": "Mist Office",
            "timezone": "America/Los_Angeles",
            "country_code": "US",
            "maps": [MAP],
        }
    ]
    status, maps = api(port, f"/v1/maps?site_id={SITE}", TOKEN)
    assert status == 200 and [m["id"] for m in maps["maps"]] == [MAP]
    floor = maps["maps"][0]
    assert (floor["name"], floor["ppm"], floor["width"], floor["height"]) == ("Floor 1", 40.94, 1250, 1500)
    assert api(port, "/v1/maps?site_id=elsewhere", TOKEN)[1] == {"maps": []}
    assert api(port, "/v1/maps/no-such-map", TOKEN)[0] == 404

    def map_matches(worker_port: int):
        status, body = api(worker_port, f"/v1/maps/{MAP}", TOKEN)
        if status != 200:
            return None
        zones = {z["id"]: z for z in body["zones"]}
        for zone_id, members in occupancy.items():
            zone = zones[zone_id]
            if zone["occupancy"] != len(members) or [m["member"] for m in zone["members"]] != [
                m["member"] for m in members
            ]:
                return None
            size = body["visit_window_seconds"]
            windows = {w["start"]: w for w in expected.visit_windows(size)[zone_id]}
            if zone["visits"] != windows.get(
                window_start(body["time"], size), current_window([], body["time"], size)
            ):
                return None
        return body

    for worker in workers:  # zones owned by either worker: each answers all of them, as /v1/zones does
        body = wait_until(lambda w=worker: map_matches(w.port), timeout=120)
        assert body, api(worker.port, f"/v1/maps/{MAP}", TOKEN)
    assert len(body["zones"]) == ZONES and body["site"]["name"] == "Mist Office"
    lobby = next(z for z in body["zones"] if z["name"] == "Lobby")
    assert lobby["vertices"] == [
        {"x": 450, "y": 100},
        {"x": 700, "y": 100},
        {"x": 700, "y": 300},
        {"x": 450, "y": 300},
    ]
    for zone in body["zones"]:  # the same as the zone's own query
        assert api(port, f"/v1/zones/{zone['id']}/occupancy", TOKEN)[1]["count"] == zone["occupancy"]

    # Every emitter's newest RSSI window, merged from both workers, with its strongest AP.
    windows = expected.rssi_windows(60)
    want = []
    for mac, found in sorted(windows.items()):
        newest = found[-1]
        count = sum(s["count"] for s in newest["aps"].values())
        want.append(
            {
                "mac": mac,
                "start": newest["start"],
                "end": newest["end"],
                "count": count,
                "aps": len(newest["aps"]),
                "strongest": strongest(newest["aps"]),
            }
        )
    for worker in workers:
        got = wait_until(lambda w=worker: api(w.port, "/v1/rssi?since=0", TOKEN)[1] == {"emitters": want}, 60)
        assert got, api(worker.port, "/v1/rssi?since=0", TOKEN)
    assert len(want) > 6  # beacons, assets and SDK phones
    assert api(port, "/v1/rssi?since=not-a-time", TOKEN)[0] == 400

    # Read-only, like the rest of the query API.
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/maps/{MAP}", method="POST", data=b"{}")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def _chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no playwright (pip install -e '.[test]')")
    return sync_playwright


def test_floor_page_in_headless_chromium_draws_zones_moving_dots_and_the_apis_counts(
    deployment, worker_factory, ingest_factory, tmp_path
):
    sync_playwright = _chromium()
    load_reference(deployment)
    worker = worker_factory(deployment, MISTPIPE_QUERY_TOKEN=TOKEN)
    ingest = ingest_factory(deployment)
    out = tmp_path / "sim"
    # Real time, now: the page watches it happen.
    simulation = start_simulation(
        ingest, deployment, out, tmp_path / "simulate.log", "--seconds", "45", "--seed", "4"
    )

    def api_counts() -> dict[str, int]:
        return {z: api(worker.port, f"/v1/zones/{z}/occupancy", TOKEN)[1]["count"] for z in zone_ids}

    zone_ids: list[str] = []
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 860},
            )
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # The token as a URL fragment: the page keeps it and sends it as a bearer token.
            page.goto(f"http://127.0.0.1:{worker.port}/map#token={TOKEN}")

            # Zones drawn as polygons, to scale: the Lobby's pixels as the reference data gives them.
            page.wait_for_function(
                f"document.querySelectorAll('g.zone polygon').length === {ZONES}", timeout=60_000
            )
            assert "token" not in page.url  # taken out of the address bar
            zone_ids = page.eval_on_selector_all("g.zone", "gs => gs.map(g => g.dataset.zoneId)")
            points = page.get_attribute(
                "g.zone[data-zone-id='8ac84899-32db-6327-334c-9b6d58544cfe'] polygon", "points"
            )
            assert points == "450,100 700,100 700,300 450,300"
            names = page.eval_on_selector_all("g.zone .zone-name", "ts => ts.map(t => t.textContent)")
            assert sorted(names) == ["Cafeteria", "Loading Dock", "Lobby", "Meeting Room", "Open Office"]

            # Dots, by type, that move between updates.
            page.wait_for_function("document.querySelectorAll('g.dot').length >= 16", timeout=60_000)
            types = page.eval_on_selector_all("g.dot", "gs => gs.map(g => g.dataset.type)")
            assert {"wifi", "sdk", "asset"} <= set(types)

            def positions() -> dict[str, tuple[str, str]]:
                return dict(
                    page.eval_on_selector_all(
                        "g.dot", "gs => gs.map(g => [g.dataset.key, [g.dataset.x, g.dataset.y]])"
                    )
                )

            before = positions()
            moved = wait_until(
                lambda: [k for k, p in positions().items() if k in before and tuple(p) != tuple(before[k])],
                15,
            )
            assert len(moved) >= 3, moved
            updates = int(page.get_attribute("body", "data-updates"))
            time.sleep(4.5)
            assert int(page.get_attribute("body", "data-updates")) >= updates + 2  # at least every 2 s

            # One evaluation reads the table and the badges at one instant (the page updates in between).
            shown = """() => [
                [...document.querySelectorAll('#zones tbody tr')]
                    .map(r => [r.dataset.zoneId, r.querySelector('td.count').textContent]),
                [...document.querySelectorAll('g.zone')]
                    .map(g => [g.dataset.zoneId, g.querySelector('.zone-count').textContent]),
            ]"""

            def page_counts() -> dict[str, int]:
                rows, badges = page.evaluate(shown)
                assert dict(rows) == dict(badges)
                return {z: int(n) for z, n in rows}

            # While walkers come and go: the page shows what the API answers (the page polls each second).
            assert wait_until(lambda: page_counts() == api_counts(), 20, interval=0.2), (
                page_counts(),
                api_counts(),
            )
            beacons = page.eval_on_selector_all("#beacons tbody tr", "rs => rs.map(r => r.dataset.mac)")
            assert len(beacons) >= 6

            # Once the simulation is over: the same counts on the page, the API and in what was sent.
            assert simulation.wait(120) == 0, (tmp_path / "simulate.log").read_text()
            sent = {z: len(m) for z, m in from_run(out).occupancy().items()}
            want = {z: sent.get(z, 0) for z in zone_ids}
            assert wait_until(lambda: api_counts() == want, 60), (api_counts(), want)
            assert wait_until(lambda: page_counts() == want, 10), (page_counts(), want)
            legend = page.eval_on_selector_all("#legend b", "bs => bs.map(b => Number(b.textContent))")
            assert sum(legend) == len(page.query_selector_all("g.dot"))
            assert not errors, errors

            shot = tmp_path / "floor-map.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("MISTPIPE_UPDATE_SCREENSHOT") == "1":
                (REPO / "docs").mkdir(exist_ok=True)
                shutil.copy(shot, REPO / "docs" / "floor-map.png")
            browser.close()
    finally:
        if simulation.poll() is None:
            simulation.kill()
            simulation.wait()
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["failed"] == []
