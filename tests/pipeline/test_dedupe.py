"""Seen: fingerprints in one bucket per partition per commit, expired a horizon after the commit."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.dedupe import Seen
from pipeline.state import State


def seen(data: dict | None = None, horizon: float = 60.0) -> Seen:
    table = SimpleNamespace(name="dedupe", changelog_topic=SimpleNamespace(get_topic_name=lambda: "dedupe"))
    state = State(table, dict(data or {}), horizon)
    out = Seen(state, horizon)
    state.rebuild({0, 1})
    return out


def test_one_record_per_partition_per_commit_holding_its_fingerprints():
    s = seen()
    for fp in ("a", "b", "c"):
        s.add(0, fp, wall=100.0)
    s.add(1, "a", wall=100.0)  # another site's partition: its own
    assert s.seen(0, "a") and s.seen(1, "a") and not s.seen(1, "b") and len(s) == 4
    records = s.state.snapshot({0: {"mist.zone": 9}})
    s.close(now=102.0)
    buckets = [(p, v) for p, k, v in records if "~b" in k]
    assert sorted((p, v["fps"]) for p, v in buckets) == [(0, ["a", "b", "c"]), (1, ["a"])]
    assert {v["_exp"] for _, v in buckets} == {162.0}  # a horizon after the commit
    s.add(0, "d", wall=103.0)  # after the commit: a new bucket; the written one never changes
    assert [v["fps"] for p, k, v in s.state.snapshot({}) if "~b" in k] == [["d"]]
    assert [v["fps"] for _, v in buckets if _ == 0] == [["a", "b", "c"]]


def test_an_expired_bucket_takes_its_fingerprints_along_and_is_tombstoned():
    s = seen()
    s.add(0, "a", wall=100.0)
    s.state.snapshot({})
    s.close(now=100.0)
    s.add(0, "b", wall=150.0)
    assert s.state.expire(now=161.0) == 1
    assert not s.seen(0, "a") and s.seen(0, "b")
    assert [(k.startswith("0|~b"), v) for _p, k, v in s.state.snapshot({}) if v is None] == [(True, None)]


def test_a_restarted_worker_knows_the_fingerprints_of_the_buckets_restored():
    first = seen()
    first.add(0, "a", wall=100.0)
    first.add(0, "b", wall=100.0)
    restored = {k: v for _p, k, v in first.state.snapshot({0: {"mist.zone": 1}})}
    again = seen(restored)
    assert again.seen(0, "a") and again.seen(0, "b") and not again.seen(0, "c")
    assert again.state.held(0, "mist.zone") == 1
