"""The pass over raw bodies without a broker: what it publishes, what it keeps, and that a crash and a re-read
of the records since the last commit leave every aggregate as one uninterrupted run would."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from support import MIST_API

from pipeline import aggregates
from pipeline.metrics import PipelineMetrics
from pipeline.process import Pass
from pipeline.reference import ReferenceData, read_files
from pipeline.state import State, public
from topics import headers
from topics.serde import decode_key, encode_key

SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
OTHER_SITE = "1e2feb89-414c-443c-9027-c4d1c386bbc4"
MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE = "8ac84899-32db-6327-334c-9b6d58544cfe"
RAW_RSSI, RAW_LOCATION, RAW_ZONE, RAW_ALARMS = (
    "mist.discovered-raw-rssi",
    "mist.location",
    "mist.zone",
    "mist.alarms",
)
STATES = ("locations", "zone-members", "zone-visit-windows", "rssi-windows", "devices", "occupancy-alerts")


class Output:
    """What Pass hands over, in order."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def send_keyed(self, topic, key, value, timestamp_ms) -> None:
        self.send(topic, key, value, timestamp_ms=timestamp_ms or None)

    def send(self, topic, key, value, partition=None, timestamp_ms=None, headers=None) -> None:
        self.records.append(
            {
                "topic": topic,
                "key": decode_key(key),
                "value": value,
                "partition": partition,
                "headers": headers,
            }
        )

    def of(self, topic: str) -> list[dict]:
        return [orjson.loads(r["value"]) for r in self.records if r["topic"] == topic]


def refs() -> ReferenceData:
    data = ReferenceData()
    for kind, objects in read_files(sorted(MIST_API.glob("*.json"))).items():
        for obj in objects:
            data.apply(kind, encode_key(obj["id"]), orjson.dumps(obj))
    return data


REFS = refs()


def build(restored: dict[str, dict] | None = None, owned=(0,), horizon_s: float = 600.0):
    """A Pass over states restored from `restored` {state name: table data} (empty by default)."""
    restored = restored or {}
    output = Output()

    def state(name: str, retention_s: float | None = None, indexed: bool = False) -> State:
        topic = SimpleNamespace(get_topic_name=lambda: name)
        table = SimpleNamespace(name=name, changelog_topic=topic)
        return State(table, dict(restored.get(name, {})), retention_s, indexed=indexed)

    def publish(kind, key, record, ts) -> None:
        output.send(f"mist.{kind}", encode_key(key), orjson.dumps(record))

    metrics = PipelineMetrics()
    config = SimpleNamespace(
        retention_seconds=86400, dedupe_seconds=horizon_s, visit_window_seconds=900, rssi_window_seconds=60
    )
    aggs = aggregates.build(state, publish, config, lambda t, n: metrics.zone_exits_ignored.labels(t).inc(n))
    dedupe = state("dedupe", horizon_s)
    process = Pass("mist.", output, REFS, aggs, dedupe, metrics, horizon_s)
    for s in [*aggs.states(), dedupe]:  # what the worker does once Faust recovered its tables
        s.rebuild(owned)
    aggs.rssi.reopen()
    return process, output


def record(topic: str, offset: int, events: list[dict], site: str | None = SITE, partition: int = 0) -> tuple:
    mist_topic = topic.removeprefix("mist.")
    body = orjson.dumps({"topic": mist_topic, "events": events})
    hs = [(headers.MIST_TOPIC, mist_topic.encode()), (headers.RECEIVED_AT_MS, b"1749106730000")]
    return topic, partition, offset, encode_key(site), body, hs


def rssi_event(beacon: int, ap: int, rssi: int, ts: float) -> dict:
    return {
        "mac": f"ed2cc53f27{beacon:02x}",
        "device_id": f"00000000-0000-0000-1000-5c5b350e55{ap:02x}",
        "map_id": MAP,
        "org_id": "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61",
        "site_id": SITE,
        "beam": 1,
        "rssi": rssi,
        "timestamp": ts,
    }


def location_event(client: int, x: float, ts: float) -> dict:
    return {
        "mac": f"5684dae9ac{client:02x}",
        "map_id": MAP,
        "site_id": SITE,
        "x": x,
        "y": 2.0,
        "timestamp": ts,
    }


def zone_event(member: int, trigger: str, ts: float) -> dict:
    return {
        "mac": f"aabbccdd00{member:02x}",
        "map_id": MAP,
        "site_id": SITE,
        "zone_id": ZONE,
        "trigger": trigger,
        "type": "wifi",
        "timestamp": ts,
    }


# -- one pass --------------------------------------------------------------------------------------------


def test_every_event_enriched_and_aggregated_copies_once():
    process, out = build()
    events = [location_event(1, 1.0, 100.0), location_event(2, 2.0, 101.0)]
    process.body(*record(RAW_LOCATION, 0, events))
    process.body(*record(RAW_LOCATION, 1, events[:1]))  # a copy (the org webhook's): dropped
    enriched = out.of("mist.location.enriched")
    assert [e["mac"] for e in enriched] == ["5684dae9ac01", "5684dae9ac02"]
    assert enriched[0]["site"]["name"] == "Mist Office" and enriched[0]["x_px"] == 1.0 * 40.94
    assert enriched[0]["mist"]["source"] == {"topic": RAW_LOCATION, "partition": 0, "offset": 0, "index": 0}
    assert [r["key"] for r in out.records] == ["5684dae9ac01", "5684dae9ac02"]  # keyed by entity
    assert process.aggregates.locations.state.get(0, "5684dae9ac02")["x"] == 2.0
    assert process.metrics.duplicates.labels("location")._value.get() == 1
    assert process.progress == {0: {RAW_LOCATION: 1}}


def test_a_body_of_several_sites_is_split_by_site_and_processed_from_by_site():
    process, out = build(owned=range(8))
    alarms = [
        {"id": "a1", "org_id": "o", "site_id": SITE, "type": "rogue", "timestamp": 1.0},
        {"id": "a2", "org_id": "o", "site_id": OTHER_SITE, "type": "rogue", "timestamp": 2.0},
        {"id": "a3", "org_id": "o", "site_id": SITE, "type": "rogue", "timestamp": 3.0},
    ]
    process.body(*record(RAW_ALARMS, 5, alarms, site="o", partition=2))
    assert out.of("mist.alarms.enriched") == []
    parts = [r for r in out.records if r["topic"] == "mist.by-site"]
    assert [(r["key"], orjson.loads(r["value"])["events"]) for r in parts] == [
        (SITE, [alarms[0], alarms[2]]),
        (OTHER_SITE, [alarms[1]]),
    ]
    assert dict(parts[0]["headers"])[headers.INDEXES] == b"[0,2]"
    # Read back from mist.by-site: the events, with their place in the raw body as their provenance.
    first = parts[0]
    process.body("mist.by-site", 3, 0, encode_key(SITE), first["value"], first["headers"])
    enriched = out.of("mist.alarms.enriched")
    assert [(e["id"], e["mist"]["source"]) for e in enriched] == [
        ("a1", {"topic": RAW_ALARMS, "partition": 2, "offset": 5, "index": 0}),
        ("a3", {"topic": RAW_ALARMS, "partition": 2, "offset": 5, "index": 2}),
    ]


def test_dead_letters_name_the_raw_record():
    process, out = build()
    process.body(*record(RAW_LOCATION, 3, [location_event(1, 1.0, 100.0), {"mac": "5684dae9ac01"}]))
    (dead,) = out.of("mist.deadletter")
    assert dead["source"] == {"topic": RAW_LOCATION, "partition": 0, "offset": 3}
    assert (dead["index"], [e["field"] for e in dead["errors"]]) == (1, ["x", "y"])
    assert dead["received_at_ms"] == 1749106730000
    assert len(out.of("mist.location.enriched")) == 1


def test_a_record_the_dedupe_marks_hold_is_skipped_whole():
    process, out = build()
    process.body(*record(RAW_LOCATION, 0, [location_event(1, 1.0, 100.0)]))
    process.commit_steps()
    process.body(*record(RAW_LOCATION, 0, [location_event(1, 1.0, 100.0)]))  # read again
    assert len(out.of("mist.location.enriched")) == 1
    assert process.metrics.duplicates.labels("location")._value.get() == 0


# -- a crash, and the records since the last commit read again ---------------------------------------------


def restore(data: dict, records: list[tuple]) -> dict:
    """A memory store after Faust recovered `records` (key, value or None) into it."""
    out = dict(data)
    for key, value in records:
        if value is None:
            out.pop(key, None)
        else:
            out[key] = orjson.loads(orjson.dumps(value))  # as the changelog gives it back
    return out


def aggregates_of(process: Pass) -> dict[str, dict]:
    """What the aggregates hold, without their bookkeeping (deadlines by the wall clock, marks)."""
    return {
        s.name: {k: public(v) for k, v in s.data.items() if "~" not in k} for s in process.aggregates.states()
    }


def stream(samples: list[tuple[int, int, int, int, int]]) -> list[tuple]:
    """Bodies of 1-3 events over three raw topics; some events sent again (copies)."""
    records, offsets, sent = [], {RAW_RSSI: 0, RAW_LOCATION: 0, RAW_ZONE: 0}, []
    for i, (kind, a, b, value, copies) in enumerate(samples):
        ts = 1749106700.0 + (i * 7 + value * 13) % 150  # out of order, within the late-arrival horizon
        if kind == 0:
            topic, events = (
                RAW_RSSI,
                [rssi_event(a, b, -40 - value, ts), rssi_event(b, a, -60 - value, ts + 1)],
            )
        elif kind == 1:
            topic, events = RAW_LOCATION, [location_event(a, float(value), ts)]
        else:
            topic, events = RAW_ZONE, [zone_event(a, "enter" if value % 2 else "exit", ts)]
        if copies and sent:
            events = [*events, sent[copies % len(sent)]]
        sent += events
        records.append(record(topic, offsets[topic], events))
        offsets[topic] += 1
    return records


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2), st.integers(0, 3), st.integers(0, 3), st.integers(0, 30), st.integers(0, 2)
        ),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_a_crash_anywhere_and_a_re_read_leave_the_aggregates_of_one_run(samples, data):
    records = stream(samples)
    once, _ = build()
    for r in records:
        once.body(*r)
    expected = aggregates_of(once)

    # Commits after some records; a crash after record `crash`, in the middle of the last commit's writes.
    n = len(records)
    commits = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=4))))
    crash = data.draw(st.integers(0, n))
    process, _ = build()
    changelogs: dict[str, list] = {name: [] for name in (*STATES, "dedupe")}
    committed = 0  # the next record to read after a restart: Faust's committed offset
    for i, r in enumerate(records[:crash], start=1):
        process.body(*r)
        if i in commits:
            steps = process.commit_steps()
            last = i == max(c for c in commits if c <= crash) and data.draw(st.booleans())
            if last:  # the crash falls in this commit: each changelog got a prefix of its records
                if data.draw(st.booleans()):  # the states' step cut short: no dedupe marks, no offsets
                    for name in STATES:
                        mine = [(k, v) for topic, _p, k, v in steps[0] if topic == name]
                        changelogs[name] += mine[: data.draw(st.integers(0, len(mine)))]
                    break
                for _topic, _p, k, v in steps[0]:
                    changelogs[_topic].append((k, v))
                marks = [(k, v) for _t, _p, k, v in steps[1]]
                changelogs["dedupe"] += marks[: data.draw(st.integers(0, len(marks)))]
                break
            for step in steps:
                for topic, _p, k, v in step:
                    changelogs[topic].append((k, v))
            committed = i

    # The restarted worker: state from the changelogs, the records read again from the committed offset.
    again, _ = build({name: restore({}, recs) for name, recs in changelogs.items()})
    for r in records[committed:]:
        again.body(*copy.deepcopy(r))
    assert aggregates_of(again) == expected
