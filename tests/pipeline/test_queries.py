"""The aggregates and the query API against the real broker and workers, on a scenario with known answers."""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request

import orjson
import scenario
from jsonschema import Draft202012Validator
from support import MIST_API, http_json, post_bodies, read_topics, run_cli

from topics.records import schemas


def load_reference(deployment) -> None:
    result = run_cli(
        "reference",
        "load",
        str(MIST_API),
        "--kafka-bootstrap",
        deployment.bootstrap,
        "--topic-prefix",
        deployment.prefix,
    )
    assert result.returncode == 0, result.stderr


def answers(port: int) -> dict[str, object]:
    return {path: http_json(f"http://127.0.0.1:{port}{path}")[1] for path in scenario.EXPECTED}


def wait_for_answers(port: int, timeout: float = 90) -> dict[str, object]:
    """Poll until every query answers as expected (the pipeline is asynchronous), then return the answers."""
    deadline = time.monotonic() + timeout
    got = answers(port)
    while got != scenario.EXPECTED and time.monotonic() < deadline:
        time.sleep(0.5)
        got = answers(port)
    return got


def assert_expected(got: dict[str, object]) -> None:
    for path, expected in scenario.EXPECTED.items():
        assert got[path] == expected, path


async def post_scenario(deployment, ingest, bodies: list[bytes]) -> None:
    assert await post_bodies(ingest.url, deployment.secret, bodies) == [200] * len(bodies)


SCENARIO = [b for _, b in scenario.BODIES]


async def test_scenario_known_answers(deployment, worker_factory, ingest_factory):
    load_reference(deployment)
    worker = worker_factory(deployment)
    await post_scenario(deployment, ingest_factory(deployment), SCENARIO)
    assert_expected(wait_for_answers(worker.port))

    # Errors: unknown keys 404, malformed MACs 400, Mist's MAC spellings accepted.
    status, body = http_json(f"http://127.0.0.1:{worker.port}/v1/devices/aabbccddeeff/status")
    assert status == 404 and "error" in body
    status, body = http_json(f"http://127.0.0.1:{worker.port}/v1/rssi/not-a-mac")
    assert status == 400 and "MAC" in body["error"]
    status, body = http_json(f"http://127.0.0.1:{worker.port}/v1/rssi/ED-2C-C5-3F-27-70")
    assert status == 200 and body == scenario.EXPECTED[f"/v1/rssi/{scenario.BEACON}"]
    status, _ = http_json(f"http://127.0.0.1:{worker.port}/v1/zones/no-such-zone/occupancy")
    assert status == 404

    # Presence on a map: by default the last MISTPIPE_PRESENCE_SECONDS before now (the scenario is from 2025),
    # or since a given time.
    maps = f"http://127.0.0.1:{worker.port}/v1/maps/{scenario.MAP}/locations"
    assert http_json(maps) == (200, {"map_id": scenario.MAP, "locations": []})
    status, body = http_json(f"{maps}?since={scenario.T0 + 10}")
    assert status == 200 and [r["key"] for r in body["locations"]] == [scenario.ASSET]
    assert http_json(f"{maps}?since=yesterday")[0] == 400

    # The derived topics: every visit once (no retraction is needed in order), closed RSSI windows.
    visits = await read_topics(deployment.bootstrap, [deployment.topic("zone.visits")], until=3)
    got = {(v["member"], v["entered"], v["exited"]) for v in map(orjson.loads, (r.value for r in visits))}
    assert got >= scenario.EXPECTED_VISITS
    windows = await read_topics(deployment.bootstrap, [deployment.topic("rssi.windows")], until=2)
    latest = {}
    for record in windows:
        window = orjson.loads(record.value)
        latest[(window["mac"], window["start"])] = window
    for window in scenario.EXPECTED[f"/v1/rssi/{scenario.BEACON}"]["windows"][:2]:  # closed by event time
        assert latest[(scenario.BEACON, window["start"])] == {"mac": scenario.BEACON, **window}

    # Every record of the derived and enriched topics validates against the published JSON Schemas.
    published = schemas(deployment.prefix)
    checks = {"zone.visits": "derived/zone.visits.json", "rssi.windows": "derived/rssi.windows.json"}
    checks.update({f"{t}.enriched": f"enriched/{t}.json" for t in {t for t, _ in scenario.BODIES}})
    for topic, schema_file in checks.items():
        validator = Draft202012Validator(published[schema_file])
        records = await read_topics(deployment.bootstrap, [deployment.topic(topic)], until=1)
        assert records, topic
        for record in records:
            validator.validate(orjson.loads(record.value))


async def test_same_answers_when_every_body_comes_twice_shuffled(deployment, worker_factory, ingest_factory):
    load_reference(deployment)
    worker = worker_factory(deployment)
    bodies = SCENARIO * 2
    random.Random(7).shuffle(bodies)
    await post_scenario(deployment, ingest_factory(deployment), bodies)
    assert_expected(wait_for_answers(worker.port))


async def test_two_workers_answer_every_query(deployment_factory, worker_factory, ingest_factory):
    deployment = deployment_factory(partitions=8)
    load_reference(deployment)
    first = worker_factory(deployment)
    second = worker_factory(deployment)
    await post_scenario(deployment, ingest_factory(deployment), SCENARIO)
    assert_expected(wait_for_answers(first.port))
    assert_expected(wait_for_answers(second.port))


async def test_restarted_worker_recovers_its_tables(deployment, worker_factory, ingest_factory):
    load_reference(deployment)
    worker = worker_factory(deployment)
    await post_scenario(deployment, ingest_factory(deployment), SCENARIO)
    assert_expected(wait_for_answers(worker.port))
    worker.stop()
    # A new process with an empty local store: every table comes back from its changelog.
    restarted = worker_factory(deployment)
    assert_expected(wait_for_answers(restarted.port))


async def test_query_token_required_when_set(deployment, worker_factory):
    load_reference(deployment)
    worker = worker_factory(deployment, MISTPIPE_QUERY_TOKEN="s3cret-query-token")
    url = f"http://127.0.0.1:{worker.port}/v1/devices/{scenario.AP2}/status"
    status, body = http_json(url)
    assert status == 401 and "bearer token" in body["error"]
    status, _ = http_json(url, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _ = http_json(url, headers={"Authorization": "Bearer s3cret-query-token"})
    assert status == 404  # through: the device is unknown
    status, _ = http_json(
        f"http://127.0.0.1:{worker.port}/v1/maps/{scenario.MAP}/locations",
        headers={"Authorization": "Bearer s3cret-query-token"},
    )
    assert status == 200  # the sample map is known from the reference data
    # Read-only: nothing but GET.
    request = urllib.request.Request(url, method="POST", data=b"{}")
    request.add_header("Authorization", "Bearer s3cret-query-token")
    try:
        urllib.request.urlopen(request, timeout=5)
        raise AssertionError("POST accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 405
