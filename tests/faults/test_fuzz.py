"""Issue 7, point 4: generated and mutated events and bodies, written straight into the raw topics as the
ingest writes them (hypothesis). The worker never stops, and every event is either enriched or dead-lettered,
counted exactly: per raw record, from the topics, and in total, from /metrics.

What is valid is worked out here with the contract (what each topic needs, the models' types of those
fields), not with the worker's code. Every
generated event gets a field of its own (`fuzz_id`), so no two are duplicates: the dedupe stage drops none.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter

import orjson
from aiokafka import AIOKafkaProducer
from fault_support import load_reference, metric, metrics_text, wait_for_metric
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from support import MIST_SAMPLES, http_status, read_topics

from ingest.routing import ShapeError, parse, record_key
from topics import headers
from topics.catalogue import Need, lookup
from topics.models.common import ISO_TIME

SAMPLES = {p.stem: orjson.loads(p.read_bytes()) for p in sorted(MIST_SAMPLES.glob("*.json"))}
EXAMPLES = 400
FUZZ_IDS = itertools.count()
NOW = float(int(time.time()))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Values Mist's fields could plausibly be turned into: other types, other spellings, edge numbers.
field_values = (
    json_values
    | st.sampled_from(["", "NOTICE", "AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", "not-a-mac", "enter", "EXIT"])
    | st.sampled_from([0, -1, 2**63, -(2**63), 1e308, -1e-308, 1749106728, 1749106728.5])
)


@st.composite
def events(draw, topic: str) -> object:
    """A sample event of `topic`, unchanged or mutated; or something that is no event at all."""
    sample = draw(st.sampled_from(SAMPLES[topic]["events"]))
    kind = draw(st.sampled_from(["sample", "sample", "drop", "retype", "retype", "add", "nested", "other"]))
    event = json.loads(json.dumps(sample))
    # Current event times: enriched records carry the event time, and a broker deletes records older than
    # the topic's retention (7 days by default) within minutes, which the samples' times are.
    for item in [event, *(a for a in event.get("alert_events") or () if isinstance(a, dict))]:
        for field in ("timestamp", "last_seen"):
            if field in item:
                item[field] = NOW + draw(st.integers(-900, 900))
    if kind == "drop" and event:
        event.pop(draw(st.sampled_from(sorted(event))))
    elif kind == "retype" and event:
        event[draw(st.sampled_from(sorted(event)))] = draw(field_values)
    elif kind == "add":
        event[draw(st.text(max_size=8))] = draw(field_values)
    elif kind == "nested":
        lists = [k for k, v in event.items() if isinstance(v, list | dict)]
        if lists:
            event[draw(st.sampled_from(sorted(lists)))] = draw(st.lists(field_values, max_size=3))
    elif kind == "other":
        return draw(json_values.filter(lambda v: not isinstance(v, dict)))
    return event


@st.composite
def raw_records(draw) -> tuple[str, bytes | dict, int | None]:
    """(mist topic, raw body or body object, where to cut it): a body as Mist sends it, with mutated events;
    or a broken body. Made bytes by `serialise`, which gives each event its `fuzz_id`."""
    topic = draw(st.sampled_from(sorted(SAMPLES)))
    kind = draw(st.sampled_from(["events", "events", "events", "bytes", "json", "shape", "cut"]))
    if kind == "bytes":
        return topic, draw(st.binary(max_size=200)), None
    if kind == "json":  # JSON, but not an object
        return topic, json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode(), None
    batch = draw(st.lists(events(topic), max_size=6))
    body: dict = {"topic": draw(st.sampled_from([topic, topic, topic.replace("-", "_"), "location"]))}
    body["events"] = batch
    if kind == "shape":  # events missing, or not a list
        if draw(st.booleans()):
            del body["events"]
        else:
            body["events"] = draw(json_values.filter(lambda v: not isinstance(v, list)))
    return topic, body, draw(st.integers(0, 10_000)) if kind == "cut" else None


def serialise(body: bytes | dict, cut: int | None) -> bytes:
    if isinstance(body, bytes):
        return body
    body = json.loads(json.dumps(body))
    for event in body.get("events") if isinstance(body.get("events"), list) else ():
        if isinstance(event, dict):
            event["fuzz_id"] = next(FUZZ_IDS)  # no two events alike: nothing is a duplicate
    data = json.dumps(body).encode()
    return data if cut is None else data[: cut % len(data)]


def _fits(model: type, name: str, value: object) -> bool:
    """`value` is valid for field `name` of `model` (an ISO time where epoch seconds belong counts): the
    model alone with that one field, so that its configuration counts (numbers taken as strings)."""
    try:
        model.model_validate({name: value})
        return True
    except ValidationError as exc:
        return all(e["type"] == ISO_TIME for e in exc.errors())


def usable(model: type, need: Need, event: dict) -> bool:
    """One of the need's fields is there, and fits its type; for an identity, any non-empty string will do."""
    for name in need.fields:
        value = event.get(name)
        if value is None or value == "":
            continue
        if _fits(model, name, value) or (need.identity and isinstance(value, str)):
            return True
    return False


def expected(topic: str, raw: bytes) -> tuple[int, int]:
    """(valid events, dead letters) of a raw body, by the contract: an event is refused only when it lacks
    what its topic needs (the catalogue's needs, each field checked against the model's type for it)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return 0, 1
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return 0, 1
    topic_ = lookup(topic)
    valid = dead = 0
    for event in body["events"]:
        if isinstance(event, dict) and all(usable(topic_.model, need, event) for need in topic_.needs):
            valid += 1
        else:
            dead += 1
    return valid, dead


def ingest_key(raw: bytes) -> bytes | None:
    """The key the ingest would give the body (none when the ingest would not have taken it)."""
    try:
        return record_key(parse(raw).events)
    except ShapeError:
        return None


async def test_fuzzed_bodies_are_enriched_or_dead_lettered_exactly(deployment, worker_factory):
    await load_reference(deployment)
    worker = worker_factory(deployment)
    producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap, acks="all")
    await producer.start()
    loop = asyncio.get_running_loop()
    written: dict[tuple[str, int, int], tuple[int, int]] = {}  # raw (topic, partition, offset) -> expected
    raws: dict[tuple[str, int, int], bytes] = {}

    async def write(topic: str, raw: bytes) -> None:
        meta = await producer.send_and_wait(
            deployment.topic(topic),
            raw,
            key=ingest_key(raw),
            headers=[(headers.MIST_TOPIC, topic.encode()), (headers.RECEIVED_AT_MS, b"1749106730000")],
        )
        written[(meta.topic, meta.partition, meta.offset)] = expected(topic, raw)
        raws[(meta.topic, meta.partition, meta.offset)] = raw

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(record=raw_records())
    def write_one(record):
        topic, body, cut = record
        asyncio.run_coroutine_threadsafe(write(topic, serialise(body, cut)), loop).result(60)

    try:
        # Valid event times that Kafka refuses as record timestamps: beyond int64 milliseconds, or more than
        # an hour ahead (Kafka 4's log.message.timestamp.after.max.ms). Valid events: enriched, not lost.
        late = [time.time() + 7200, 1e15, 2**63, 1e308]
        location = SAMPLES["location"]["events"][0]
        await write(
            "location",
            json.dumps(
                {
                    "topic": "location",
                    "events": [dict(location, timestamp=ts, fuzz_id=next(FUZZ_IDS)) for ts in late],
                }
            ).encode(),
        )
        await asyncio.to_thread(write_one)
    finally:
        await producer.stop()

    valid = sum(v for v, _ in written.values())
    dead = sum(d for _, d in written.values())
    assert len(written) == EXAMPLES + 1 and valid > EXAMPLES / 2 and dead > EXAMPLES / 2, (valid, dead)

    # Wait until every event went through (or the time ran out).
    patience = 60 + EXAMPLES / 5
    await wait_for_metric(worker.port, "mistpipe_worker_events_out_total", lambda v: v >= valid, patience)
    await wait_for_metric(worker.port, "mistpipe_worker_dead_lettered_total", lambda v: v >= dead, patience)
    # The topics, record for record: per raw record, its events enriched or dead-lettered as expected.
    enriched_topics = [deployment.topic(f"{t}.enriched") for t in SAMPLES]
    out = await read_topics(deployment.bootstrap, enriched_topics, until=valid)
    letters = await read_topics(deployment.bootstrap, [deployment.topic("deadletter")], until=dead)
    got: Counter = Counter()
    for record in out:
        source = orjson.loads(record.value)["mist"]["source"]
        got[(source["topic"], source["partition"], source["offset"], "valid")] += 1
    for record in letters:
        letter = orjson.loads(record.value)
        assert letter["errors"] and all(e["type"] != "processing" for e in letter["errors"]), letter
        source = letter["source"]
        got[(source["topic"], source["partition"], source["offset"], "dead")] += 1
    want = Counter()
    for (topic, partition, offset), (v, d) in written.items():
        want[(topic, partition, offset, "valid")] += v
        want[(topic, partition, offset, "dead")] += d
    wrong = sorted({k[:3] for k in (+got - +want) | (+want - +got)})
    assert not wrong, [(len(out), len(letters), valid, dead, len(wrong))] + [
        (k, written[k], got[(*k, "valid")], got[(*k, "dead")], raws[k][:300]) for k in wrong[:3]
    ]

    # /metrics: every body read, every valid event published, every other one dead-lettered; no duplicates.
    text = metrics_text(worker.port)
    counts = {
        name: metric(text, f"mistpipe_worker_{name}_total")
        for name in (
            "bodies_in",
            "events_in",
            "events_out",
            "dead_lettered",
            "duplicates",
            "processing_errors",
        )
    }
    assert counts == {
        "bodies_in": len(written),
        "events_in": valid,
        "events_out": valid,
        "dead_lettered": dead,
        "duplicates": 0,
        "processing_errors": 0,
    }

    # It never stopped: the process runs and is ready.
    assert worker.proc.poll() is None
    assert http_status(f"http://127.0.0.1:{worker.port}/readyz") == 200
