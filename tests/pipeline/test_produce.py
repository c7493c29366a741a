"""pipeline/produce.py: records straight to Faust's producer, changelog records handed over as soon as the
agent yields (and by every flush), and the dedupe marks only after the acks of everything before them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson

from pipeline.produce import Sink


class FakeProducer:
    """Faust's producer driver as the sink uses it: `send` hands a record over and returns the future of
    its ack; `flush` waits for every ack (here: acks everything handed over)."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.unacked: list[tuple[asyncio.Future, str, int]] = []
        self.offsets: dict[tuple[str, int], int] = {}
        self.fail: set[str] = set()

    async def send(self, topic, key, value, partition, timestamp, headers):
        self.log.append(("send", topic, key, value, partition))
        future = asyncio.get_running_loop().create_future()
        self.unacked.append((future, topic, 0 if partition is None else partition))
        return future

    async def flush(self) -> None:
        self.log.append(("flush",))
        for future, topic, partition in self.unacked:
            if topic in self.fail:
                future.set_exception(RuntimeError("MessageSizeTooLarge"))
                continue
            offset = self.offsets.get((topic, partition), -1) + 1
            self.offsets[topic, partition] = offset
            future.set_result(SimpleNamespace(topic=topic, partition=partition, offset=offset))
        self.unacked = []
        await asyncio.sleep(0)  # the futures' done callbacks run


class FakeStore(dict):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[int, int] = {}

    def set_persisted_offset(self, tp, offset: int) -> None:
        self.persisted[tp.partition] = offset


def fake_table(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        changelog_topic=SimpleNamespace(get_topic_name=lambda: f"app-{name}-changelog"),
        data=FakeStore(),
        send_changelog=None,
    )


def fake_app() -> SimpleNamespace:
    producer = FakeProducer()

    async def maybe_start_producer():
        return producer

    return SimpleNamespace(producer=producer, maybe_start_producer=maybe_start_producer)


def sent(log: list[tuple]) -> list[tuple]:
    return [entry[1:] if entry[0] == "send" else entry for entry in log]


async def test_send_hands_the_record_over_with_a_json_key_and_counts_failures():
    app = fake_app()
    failed: list[str] = []
    sink = Sink(app, on_failed=failed.append)
    sink.install()
    app.producer.fail.add("mist.location.enriched")
    await sink.send("mist.location.enriched", "aabbccddeeff", b"{}", timestamp=1.5)
    await sink.send("mist.zone.enriched", None, b"{}")
    assert sent(app.producer.log) == [
        ("mist.location.enriched", b'"aabbccddeeff"', b"{}", None),
        ("mist.zone.enriched", None, b"{}", None),
    ]
    await app.producer.flush()
    assert failed == ["mist.location.enriched"]


async def test_changelog_records_go_out_as_soon_as_the_agent_yields_in_order_tombstones_included():
    app = fake_app()
    sink = Sink(app)
    flush = app.producer.flush
    sink.install()
    assert app.producer.flush is not flush  # Faust's commits call this one
    table = fake_table("locations")
    sink.changelog(table)
    table.send_changelog(3, "aa", {"map_id": "m", "n": 1})
    table.send_changelog(3, "aa", value=None, value_serializer="raw")
    table.send_changelog(1, "bb", {"n": 2})
    assert app.producer.log == []  # queued: the agent's synchronous code goes on
    await asyncio.sleep(0.01)  # the agent yields: a task hands them over, without waiting for a commit
    assert sent(app.producer.log) == [
        ("app-locations-changelog", b'"aa"', orjson.dumps({"map_id": "m", "n": 1}), 3),
        ("app-locations-changelog", b'"aa"', None, 3),
        ("app-locations-changelog", b'"bb"', b'{"n":2}', 1),
    ]
    await app.producer.flush()
    # What Faust's own callback did per record: the newest acked offset of each partition, in the store.
    assert table.data.persisted == {3: 1, 1: 0}


async def test_a_mark_goes_out_only_after_the_records_before_it_are_acked():
    app = fake_app()
    sink = Sink(app)
    sink.install()
    dedupe, windows = fake_table("dedupe"), fake_table("rssi-windows")
    sink.changelog(dedupe, after_acks=True)
    sink.changelog(windows)
    # One event: its enriched record, its table update, then its mark.
    await sink.send("mist.discovered-raw-rssi.enriched", "b0", b"{}")
    windows.send_changelog(0, "b0|60", {"count": 1})
    dedupe.send_changelog(0, "fp1", [1.0, 0])
    await app.producer.flush()
    assert [entry[:2] for entry in app.producer.log] == [
        ("send", "mist.discovered-raw-rssi.enriched"),
        ("send", "app-rssi-windows-changelog"),
        ("flush",),  # the mark waits for the acks of both
        ("send", "app-dedupe-changelog"),
        ("flush",),  # and the commit for the mark's
    ]


async def test_a_flush_drains_what_was_queued_before_it_under_a_steady_stream():
    app = fake_app()
    sink = Sink(app)
    sink.install()
    table = fake_table("devices")
    sink.changelog(table)
    stop = asyncio.Event()

    async def agent() -> None:  # keeps writing while the commit's flush runs
        n = 0
        while not stop.is_set():
            table.send_changelog(0, f"d{n}", {"n": n})
            n += 1
            await asyncio.sleep(0)

    writing = asyncio.ensure_future(agent())
    await asyncio.sleep(0.01)
    table.send_changelog(1, "before-the-commit", {})
    await asyncio.wait_for(app.producer.flush(), 5)  # not starved by the stream of new records
    log = list(app.producer.log)
    last_flush = max(i for i, entry in enumerate(log) if entry == ("flush",))
    assert (b'"before-the-commit"', 1) in [(entry[2], entry[4]) for entry in log[:last_flush]]
    stop.set()
    await writing
