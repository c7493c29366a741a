"""pipeline/faust: the corrections to Faust's consumer, the version check, the commit hook."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types import TP

import pipeline.faust as faust_internals
from pipeline.faust import fixes as faustfix


def records(tp, offsets):
    """An async stream of (tp, message) as Consumer.getmany yields them."""

    async def stream():
        for offset in offsets:
            yield tp, SimpleNamespace(offset=offset)

    return stream()


async def passed(positions, stream, skip=()):
    seeks: list[tuple] = []

    async def seek(tp, offset):
        seeks.append((tp, offset))

    out = [(tp, m.offset) async for tp, m in faustfix.contiguous(stream, positions, skip, seek)]
    return out, seeks


async def test_a_fetch_from_before_the_seek_is_dropped_and_the_partition_sought_back():
    tp = TP("mist.location", 0)
    positions = faustfix.Positions()
    positions.sought({tp: 768})  # Faust's seek to the committed offset, after a recovery
    # What a fetch begun before the seek hands over: the records after those fetched (and dropped) early.
    out, seeks = await passed(positions, records(tp, [803, 804, 805]))
    assert out == [] and seeks == [(tp, 768)]  # unpatched, Faust takes 769-802 as a gap and commits past them
    out, seeks = await passed(positions, records(tp, [768, 769, 770]))
    assert out == [(tp, 768), (tp, 769), (tp, 770)] and seeks == []
    assert positions.next[tp] == 771


async def test_records_in_order_pass_and_earlier_ones_are_left_to_faust():
    tp = TP("mist.zone.enriched", 1)
    positions = faustfix.Positions()
    out, seeks = await passed(positions, records(tp, [5, 6, 7]))  # nothing sought yet: taken as they come
    assert out == [(tp, 5), (tp, 6), (tp, 7)] and seeks == []
    positions.sought({tp: 3})
    out, _ = await passed(positions, records(tp, [3, 4, 5, 6, 7, 8]))  # Faust drops what it read already
    assert [o for _, o in out] == [3, 4, 5, 6, 7, 8]


async def test_compacted_changelogs_keep_their_gaps():
    tp = TP("mp-worker-dedupe-changelog", 0)
    positions = faustfix.Positions()
    positions.sought({tp: 10})
    out, seeks = await passed(positions, records(tp, [10, 14, 20]), skip={"mp-worker-dedupe-changelog"})
    assert [o for _, o in out] == [10, 14, 20] and seeks == []


async def test_a_jump_that_seeking_back_does_not_cure_is_taken():
    tp = TP("mist.location", 0)
    positions = faustfix.Positions()
    positions.sought({tp: 0})  # the records from 0 were deleted by retention before they were read
    for _ in range(faustfix.MAX_SEEKS_BACK):
        out, seeks = await passed(positions, records(tp, [50, 51]))
        assert out == [] and seeks == [(tp, 0)]
    out, seeks = await passed(positions, records(tp, [50, 51]))
    assert out == [(tp, 50), (tp, 51)] and seeks == []


def test_a_partition_without_a_committed_offset_expects_nothing():
    tp = TP("mist.ping", 0)
    positions = faustfix.Positions()
    positions.sought({tp: 4})
    positions.sought({tp: None})
    assert positions.admit(tp, 9) is None


def test_partitions_without_a_committed_offset_are_sought_to_their_start():
    # aiokafka's seek_to_committed leaves these where the early fetching of a recovery got to (point 2).
    offsets = {
        TP("mist.zone", 0): None,  # never committed
        TP("mist.zone", 1): 1112,
        TP("mist.zone", 2): 0,
        TP("mist.location", 0): -1,
        TP("app-dedupe-changelog", 0): None,  # the recovery reads changelogs
    }
    assert faustfix.never_committed(offsets, {"app-dedupe-changelog"}) == [
        TP("mist.zone", 0),
        TP("mist.zone", 2),
        TP("mist.location", 0),
    ]


def test_an_unknown_faust_version_is_refused(monkeypatch):
    import faust

    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match=r"0\.16\.0"):
        faust_internals.apply()


async def test_the_commit_runs_before_fausts_own_flush_one_at_a_time():
    order: list[str] = []

    async def flush() -> None:
        order.append("faust")

    app = SimpleNamespace(producer=SimpleNamespace(flush=flush))

    async def commit() -> None:
        order.append("start")
        await asyncio.sleep(0.05)
        order.append("end")

    faust_internals.install_commit(app, commit)
    await asyncio.gather(app.producer.flush(), app.producer.flush())  # a commit and a rebalance's flush
    assert order == ["start", "end", "faust", "start", "end", "faust"]
