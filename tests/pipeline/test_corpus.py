"""The corpus of published webhook bodies through the parser: what comes out of each one, and that nothing
of a real delivery is lost. tests/corpus/INDEX.md says where each body came from; masks are replaced."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest
from corpus_support import CORPUS, SHARED_CORPUS, corpus
from support import post_bodies, read_topics

from pipeline.parse import parse_body
from topics.catalogue import lookup


@dataclass(frozen=True)
class Expect:
    """What a body gives: dead letters {event index: the fields named}, the fields warned about (any event
    of the body), the fields whose original is kept (a coerced ISO time). The rest parses clean."""

    dead: dict[int, list[str]] = field(default_factory=dict)
    warned: tuple[str, ...] = ()
    original: tuple[str, ...] = ()


CLEAN = Expect()
UNROUTED = "unrouted"  # the body's topic is no Mist topic (a placeholder "string", "topic2")

# Written from reading each body. Dead letters lack what their topic's aggregates need (topics/catalogue.py);
# every one is an example with fields left out (Mist's spec, the Go SDK), none a real delivery:
# - zone__1 (spec): no zone_id and no trigger: no zone to count, nothing that happened;
# - asset-raw-rssi (spec, SDK): no beacon mac and no rssi: nothing heard, by no one known;
# - location-centrak, location (SDK): no mac or id (whose location?) and no x/y (where?).
# Warnings are placeholders of the examples where a MAC or an enum belongs ("ap6", "mac4", "string").
# The SDK's scan example: every MAC a placeholder ("ap6"), three scan items.
SCAN_PLACEHOLDERS = (
    "connection_ap",
    "connection_bssid",
    "mac",
    *(f"scan_data.{i}.{f}" for i in range(3) for f in ("ap", "bssid")),
)
EXPECTED: dict[str, Expect | str] = {
    "mist-plugin/alarms__1.json": Expect(original=("last_seen",)),
    "mist-plugin/alarms__2.json": Expect(original=("last_seen",)),
    "mist-plugin/alarms__3.json": Expect(original=("last_seen",)),
    "mist_openapi/alarms__1.json": Expect(warned=("aps.0", "bssids.0")),
    "mist_openapi/asset-raw__1.json": Expect(warned=("mac",)),
    "mist_openapi/client-info__2.json": Expect(warned=("mac",)),
    "mist_openapi/client-join__1.json": Expect(warned=("ap", "bssid", "mac")),
    "mist_openapi/client-sessions__1.json": Expect(
        warned=("ap", "bssid", "mac", "next_ap", "termination_reason")
    ),
    "mist_openapi/device-events__1.json": Expect(warned=("ap", "mac")),
    "mist_openapi/device-events__2.json": Expect(warned=("ap", "mac")),
    "mist_openapi/device-events__3.json": Expect(warned=("device_type",)),
    "mist_openapi/device-events__4.json": Expect(warned=("device_type",)),
    "mist_openapi/device-updowns__1.json": Expect(warned=("ap",)),
    "mist_openapi/discovered-raw-rssi__1.json": UNROUTED,
    "mist_openapi/location__1.json": Expect(warned=("mac",)),
    "mist_openapi/nac-events__1.json": UNROUTED,
    "mist_openapi/nac-events__2.json": UNROUTED,
    "mist_openapi/nac-events__4.json": UNROUTED,
    "mist_openapi/zone__2.json": Expect(warned=("mac", "type")),
    "mist_openapi-aide/discovered-raw-rssi__1.json": UNROUTED,
    "mist_openapi-aide/location__1.json": Expect(warned=("mac",)),
    "mist_openapi-aide/nac-events__1.json": UNROUTED,
    "mist_openapi-aide/zone__1.json": Expect(dead={0: ["zone_id", "trigger"]}),
    "mistapi-go-events/asset-raw-rssi__2.json": Expect(dead={0: ["mac", "rssi"]}),
    "mistapi-go-events/device-events__1.json": Expect(warned=("ap", "mac")),
    "mistapi-go-events/device-events__2.json": Expect(warned=("ap", "mac")),
    "mistapi-go-events/discovered-raw-rssi__1.json": Expect(warned=("mac",)),
    "mistapi-go-events/nac-events__1.json": Expect(warned=("device_mac",)),
    "mistapi-go-events/nac-events__2.json": UNROUTED,
    "mistapi-go-events/wifi-conn-raw__2.json": Expect(warned=("ap_id", "client_id")),
    "mistapi-go-events/wifi-unconn-raw__2.json": Expect(warned=("ap_id", "client_id")),
    "mistapi-go-events/zone__1.json": Expect(warned=("mac",)),
    "mistapi-go-events/zone__2.json": Expect(warned=("mac", "type")),
    "mistapi-go-models/alarms__1.json": Expect(
        warned=("aps.0", "aps.1", "aps.2", "bssids.0", "bssids.1", "bssids.2")
    ),
    "mistapi-go-models/alarms__2.json": Expect(
        warned=("aps.0", "aps.1", "aps.2", "bssids.0", "bssids.1", "bssids.2")
    ),
    "mistapi-go-models/alarms__3.json": Expect(warned=("aps.0", "aps.1", "bssids.0")),
    "mistapi-go-models/asset-raw-rssi__1.json": Expect(dead={0: ["mac", "rssi"]}),
    "mistapi-go-models/asset-raw-rssi__2.json": Expect(warned=("mac",)),
    "mistapi-go-models/asset-raw__1.json": Expect(warned=("mac", "mfg_company_id")),
    "mistapi-go-models/asset-raw__2.json": Expect(warned=("mac", "mfg_company_id")),
    "mistapi-go-models/asset-raw__3.json": Expect(warned=("mac", "mfg_company_id")),
    "mistapi-go-models/client-info__1.json": Expect(warned=("mac",)),
    "mistapi-go-models/client-info__2.json": Expect(warned=("mac",)),
    "mistapi-go-models/client-info__3.json": Expect(warned=("mac",)),
    "mistapi-go-models/client-join__1.json": Expect(warned=("ap", "bssid", "mac")),
    "mistapi-go-models/client-join__2.json": Expect(warned=("ap", "bssid", "mac")),
    "mistapi-go-models/client-join__3.json": Expect(warned=("ap", "bssid", "mac")),
    "mistapi-go-models/client-sessions__1.json": Expect(
        warned=("ap", "bssid", "mac", "next_ap", "termination_reason")
    ),
    "mistapi-go-models/client-sessions__2.json": Expect(
        warned=("ap", "bssid", "mac", "next_ap", "termination_reason")
    ),
    "mistapi-go-models/client-sessions__3.json": Expect(
        warned=("ap", "bssid", "mac", "next_ap", "termination_reason")
    ),
    "mistapi-go-models/device-events__1.json": Expect(warned=("ap",)),
    "mistapi-go-models/device-events__2.json": Expect(warned=("ap", "mac")),
    "mistapi-go-models/device-events__3.json": Expect(warned=("ap", "mac")),
    "mistapi-go-models/device-events__4.json": Expect(warned=("ap", "mac")),
    "mistapi-go-models/device-updowns__1.json": Expect(warned=("ap",)),
    "mistapi-go-models/device-updowns__2.json": Expect(warned=("ap",)),
    "mistapi-go-models/device-updowns__3.json": Expect(warned=("ap",)),
    "mistapi-go-models/discovered-raw-rssi__1.json": Expect(warned=("mac",)),
    "mistapi-go-models/discovered-raw-rssi__2.json": Expect(warned=("mac",)),
    "mistapi-go-models/discovered-raw-rssi__3.json": UNROUTED,
    "mistapi-go-models/guest-authorizations__2.json": Expect(warned=("ap",)),
    "mistapi-go-models/guest-authorizations__4.json": Expect(warned=("ap",)),
    "mistapi-go-models/location-centrak__1.json": Expect(dead={0: ["x", "y"]}),
    "mistapi-go-models/location-centrak__2.json": Expect(dead={0: ["mac", "x", "y"]}),
    "mistapi-go-models/location-centrak__3.json": Expect(dead={0: ["mac", "x", "y"]}),
    "mistapi-go-models/location__2.json": Expect(dead={0: ["mac", "x", "y"]}),
    "mistapi-go-models/location__5.json": Expect(dead={0: ["mac", "x", "y"]}),
    "mistapi-go-models/minis-application__1.json": Expect(warned=("device_mac",)),
    "mistapi-go-models/nac-accounting__2.json": Expect(warned=("ap",)),
    "mistapi-go-models/nac-accounting__4.json": Expect(warned=("ap",)),
    "mistapi-go-models/nac-events__1.json": Expect(warned=("ap", "bssid", "device_mac")),
    "mistapi-go-models/nac-events__3.json": Expect(warned=("ap", "bssid", "device_mac")),
    "mistapi-go-models/nac-events__7.json": Expect(warned=("ap", "bssid")),
    "mistapi-go-models/nac-events__9.json": Expect(warned=("ap", "bssid")),
    "mistapi-go-models/rssizone__1.json": Expect(warned=("mac",)),
    "mistapi-go-models/sdkclient-scan-data__1.json": Expect(warned=SCAN_PLACEHOLDERS),
    "mistapi-go-models/sdkclient-scan-data__2.json": Expect(warned=SCAN_PLACEHOLDERS),
    "mistapi-go-models/sdkclient-scan-data__3.json": Expect(
        warned=("connection_ap", "connection_bssid", "mac", "scan_data.0.ap", "scan_data.0.bssid")
    ),
    "mistapi-go-models/site-sle__2.json": Expect(warned=("sle.exampleAdditionalProperty",)),
    "mistapi-go-models/site-sle__3.json": Expect(warned=("sle.exampleAdditionalProperty",)),
    "mistapi-go-models/wifi-conn-raw__1.json": Expect(warned=("ap_id", "client_id")),
    "mistapi-go-models/wifi-unconn-raw__1.json": Expect(warned=("ap_id", "client_id")),
    "mistapi-go-models/zone__1.json": Expect(warned=("mac",)),
    "mistapi-go-models/zone__2.json": Expect(warned=("mac",)),
    "mistapi-go-models/zone__3.json": Expect(warned=("mac",)),
    "mistapi-go-tests/asset-raw-rssi__1.json": Expect(dead={0: ["mac", "rssi"]}),
    "mistapi-go-tests/zone__2.json": Expect(warned=("type",)),
}


def parsed(name: str):
    body = next(b for b in corpus() if b.name == name)
    return parse_body(body.raw)


def test_the_corpus_is_bundled_unchanged():
    bodies = sorted(p.relative_to(CORPUS) for p in CORPUS.rglob("*.json"))
    assert len(bodies) == 226
    assert (CORPUS / "INDEX.md").is_file()
    if SHARED_CORPUS.is_dir():  # the research folder beside the repository, where it exists
        assert bodies == sorted(p.relative_to(SHARED_CORPUS) for p in SHARED_CORPUS.rglob("*.json"))
        for path in bodies:
            assert (CORPUS / path).read_bytes() == (SHARED_CORPUS / path).read_bytes(), path


def test_every_expectation_names_a_body():
    assert set(EXPECTED) <= {b.name for b in corpus()}


@pytest.mark.parametrize("body", corpus(), ids=lambda b: b.name)
def test_what_each_body_gives(body):
    result = parse_body(body.raw)
    events = orjson.loads(body.raw)["events"]
    expect = EXPECTED.get(body.name, CLEAN)
    if expect == UNROUTED:
        assert lookup(orjson.loads(body.raw)["topic"]) is None
        assert result.events == [] and [e["type"] for d in result.dead for e in d.errors] == ["body"]
        return
    assert {d.index: [e["field"] for e in d.errors] for d in result.dead} == expect.dead
    assert len(result.events) == len(events) - len(expect.dead)
    assert sorted({w["field"] for e in result.events for w in e.warnings}) == sorted(expect.warned)
    assert sorted({k for e in result.events for k in e.original}) == sorted(expect.original)
    for event in result.events:
        received = events[event.index]
        # Nothing is lost: every field Mist sent is in the event (old spellings read as their new names).
        assert set(received) - {"mapid", "siteid"} <= set(event.event), sorted(
            set(received) - set(event.event)
        )
        # A field warned about is kept as it came.
        for warning in event.warnings:
            top = warning["field"].split(".")[0]
            assert event.event[top] == received[top], warning


def test_no_event_of_a_real_delivery_is_refused_or_warned_about():
    captured = [b for b in corpus() if b.captured]
    assert len(captured) == 16
    for body in captured:
        result = parse_body(body.raw)
        assert result.dead == [], body.name
        assert [w for e in result.events for w in e.warnings] == [], body.name


def test_dead_letters_of_the_corpus_name_what_is_needed_and_why():
    dead = [d for b in corpus() for d in parse_body(b.raw).dead if d.errors[0]["type"] != "body"]
    catalogued = sum(
        len(orjson.loads(b.raw)["events"]) for b in corpus() if lookup(orjson.loads(b.raw)["topic"])
    )
    assert (len(dead), catalogued) == (9, 252)
    for letter in dead:
        for error in letter.errors:
            assert error["type"] == "missing"
            assert error["message"].startswith(f"missing `{error['field']}`")


# -- the coercions, each from a body of the corpus -------------------------------------------------------


def test_a_float_where_the_spec_says_int():
    # A real client-sessions delivery: `duration` is 17.531571348, the spec says integer. Kept as sent.
    event = parsed("mist-plugin/client-sessions__1.json").events[0]
    assert event.event["duration"] == 17.531571348
    assert event.warnings == []


def test_numeric_strings():
    # Mist's Go SDK example of nac-events: vlan "750"; mxedge-events: timestamp "1763546876.209649".
    assert parsed("mistapi-go-tests/nac-events__1.json").events[0].event["vlan"] == 750
    events = parsed("mistapi-go-events/mxedge-events__2.json").events
    assert [e.event["timestamp"] for e in events] == [1763546876.209649, 1763546876.417778]
    assert [e.timestamp for e in events] == [1763546876.209649, 1763546876.417778]


def test_booleans_as_strings():
    event = parsed("mistapi-go-events/nac-events__1.json").events[0]
    assert event.event["random_mac"] is True  # sent as "true"


def test_an_iso_time_where_epoch_seconds_are_specified():
    # A real alarm: last_seen "2025-06-05T04:00:00" (no zone: UTC, as Mist's times are).
    event = parsed("mist-plugin/alarms__1.json").events[0]
    assert event.event["last_seen"] == 1749096000.0
    assert event.original == {"last_seen": "2025-06-05T04:00:00"}
    assert event.warnings == []
    # resolved_time is no field of the model: kept as it came.
    alarm = parsed("mist-plugin/alarms__2.json").events[0]
    assert alarm.event["resolved_time"] == "2025-06-13T15:01:20"


def test_macs_in_any_spelling():
    # wifi-conn-raw sends ac-23-16-ec-a7-0b; the Minis example 5C:5B:35:... is below, made from a corpus body.
    event = parsed("mistapi-go-tests/wifi-conn-raw__1.json").events[0]
    assert (event.event["ap_id"], event.event["client_id"]) == ("ac2316eca70b", "28f0762d221e")
    body = orjson.loads(
        next(b for b in corpus() if b.name == "mistapi-go-events/minis-application__1.json").raw
    )
    for spelling in ("00:3E:73:16:FD:96", "003e.7316.fd96", " 003E7316FD96 ", "00-3e-73-16-fd-96"):
        body["events"][0]["device_mac"] = spelling
        assert parse_body(orjson.dumps(body)).events[0].event["device_mac"] == "003e7316fd96", spelling


# -- the whole corpus through the ingest and the worker, on the real broker ------------------------------


def same_event_key(topic: str, event: dict) -> bytes:
    """Copies of one event, as the corpus has them (the same example in two sources, or one event three times
    in a body): equal as sent, a numeric-string `timestamp` read as its number. Written apart from the
    parser's fingerprint, which the dedupe stage uses."""
    if isinstance(event.get("timestamp"), str):
        event = {**event, "timestamp": float(event["timestamp"])}
    return topic.encode() + orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


async def test_the_whole_corpus_through_ingest_and_worker(deployment, worker_factory, ingest_factory):
    bodies = corpus()
    worker_factory(deployment)
    ingest = ingest_factory(deployment)
    assert await post_bodies(ingest.url, deployment.secret, [b.raw for b in bodies]) == [200] * len(bodies)

    routed = {b.name: lookup(orjson.loads(b.raw)["topic"]) for b in bodies}
    events = {b.name: orjson.loads(b.raw)["events"] for b in bodies}
    total = sum(len(events[b.name]) for b in bodies if routed[b.name])
    copies: dict[bytes, list[tuple[str, int]]] = {}
    for b in bodies:
        if routed[b.name]:
            for i, e in enumerate(events[b.name]):
                copies.setdefault(same_event_key(routed[b.name].name, e), []).append((b.name, i))
    distinct = len(copies)
    unrouted_bodies = sum(1 for b in bodies if not routed[b.name])
    dead_expected = sum(len(e.dead) for e in EXPECTED.values() if isinstance(e, Expect))

    raw_names = sorted({deployment.topic(t.name) for t in routed.values() if t})
    enriched_names = sorted({deployment.topic(f"{t.name}.enriched") for t in routed.values() if t})
    deadletter, unrouted = deployment.topic("deadletter"), deployment.topic("unrouted")

    def counted(records) -> bool:
        kinds = [r.topic for r in records]
        out = sum(k in enriched_names for k in kinds)
        return out + kinds.count(deadletter) >= distinct and kinds.count(unrouted) == unrouted_bodies

    records = await read_topics(
        deployment.bootstrap, [*raw_names, *enriched_names, deadletter, unrouted], until=counted, timeout=120
    )
    # Each raw record is one body: find which, to tell which event every output record is.
    body_at = {}
    for r in records:
        if r.topic in raw_names:
            body_at[(r.topic, r.partition, r.offset)] = next(b.name for b in bodies if b.raw == r.value)
    assert sorted(body_at.values()) == sorted(b.name for b in bodies if routed[b.name])
    assert sorted(r.value for r in records if r.topic == unrouted) == sorted(
        b.raw for b in bodies if not routed[b.name]
    )

    def which(source: dict) -> tuple[str, int]:
        return body_at[(source["topic"], source["partition"], source["offset"])], source["index"]

    enriched = [which(orjson.loads(r.value)["mist"]["source"]) for r in records if r.topic in enriched_names]
    dead_letters = [orjson.loads(r.value) for r in records if r.topic == deadletter]
    dead = [
        ((which({**d["source"], "index": d["index"]})), [e["field"] for e in d["errors"]])
        for d in dead_letters
    ]
    assert len(enriched) == len(set(enriched))  # no event twice
    # Every event is enriched or dead-lettered, a copy of an enriched one aside (the dedupe stage).
    for group in copies.values():
        out = [c for c in group if c in enriched]
        refused_here = [c for c in group if c in dict(dead)]
        assert len(out) + len(refused_here) >= 1, group
        assert len(out) <= 1, group
    assert {c: fields for c, fields in dead} == {
        (name, i): fields
        for name, e in EXPECTED.items()
        if isinstance(e, Expect)
        for i, fields in e.dead.items()
    }
    refused = {c for c, _ in dead}
    assert len(enriched) == sum(1 for group in copies.values() if not set(group) <= refused)
    dropped = total - len(enriched) - len(dead)
    print(
        f"\ncorpus through ingest and worker: {len(bodies)} bodies answered 200 ({len(body_at)} routed, "
        f"{len(bodies) - len(body_at)} unrouted); {total} events of catalogued topics: "
        f"{len(enriched)} enriched, {len(dead)} dead-lettered ({dead_expected} expected), "
        f"{dropped} copies of enriched events dropped as duplicates"
    )
    for d in dead_letters:
        print(f"  dead letter: {d['mist_topic']} {[(e['field'], e['message']) for e in d['errors']]}")
