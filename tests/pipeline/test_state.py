"""State: per-partition keys in memory, a changelog written once per key per commit, marks, expiry."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.state import MARKS, State, composite, group_of, public, suffix_of


def table(name: str = "locations") -> SimpleNamespace:
    topic = SimpleNamespace(get_topic_name=lambda: f"app-{name}-changelog")
    return SimpleNamespace(name=name, changelog_topic=topic)


def state(retention_s: float | None = None, owned=(0, 1), **kw) -> State:
    s = State(table(), {}, retention_s, indexed=True, **kw)
    s.rebuild(owned)
    return s


def test_keys_are_per_partition():
    s = state()
    s.put(0, "aa", {"x": 1})
    s.put(1, "aa", {"x": 2})  # the same client in another site's partition
    assert (s.get(0, "aa"), s.get(1, "aa"), s.get(2, "aa")) == ({"x": 1}, {"x": 2}, None)
    assert s.data == {"0|aa": {"x": 1}, "1|aa": {"x": 2}}
    assert len(s) == 2


def test_composite_keys_are_indexed_by_group_per_partition():
    s = state()
    for key in ("zone|b", "zone|a", "other|a"):
        s.put(0, key, {"n": 1})
    s.put(1, "zone|c", {"n": 1})
    assert s.keys_of(0, "zone") == ["zone|a", "zone|b"]
    assert s.keys_of(1, "zone") == ["zone|c"]
    assert sorted(s.groups(0)) == ["other", "zone"]
    assert (group_of("zone|a"), suffix_of("mac|60.0"), composite("mac", 60.0)) == ("zone", "60.0", "mac|60.0")
    s.delete(0, "zone|a")
    assert s.keys_of(0, "zone") == ["zone|b"]


def test_a_snapshot_writes_each_changed_key_once_with_its_newest_value_then_the_marks():
    s = state()
    s.put(0, "aa", {"x": 1})
    s.put(0, "aa", {"x": 2})
    s.put(1, "bb", {"x": 3})
    s.delete(1, "bb")
    s.delete(1, "never-there")  # nothing to tombstone
    records = s.snapshot({0: {"mist.location": 41}, 3: {"mist.location": 7}})
    # Each value says what it holds; partition 3 is another worker's: no marks of it from here.
    assert records == [
        (0, "0|aa", {"x": 2, "_m": {"mist.location": 41}}),
        (1, "1|bb", None),
        (0, f"0|{MARKS}", {"mist.location": 41}),
    ]
    assert State.holds(s.get(0, "aa"), "mist.location", 41) and not State.holds(
        s.get(0, "aa"), "mist.location", 42
    )
    assert not State.holds(None, "mist.location", 0) and not State.holds({"x": 1}, "mist.location", 0)
    assert (
        s.held(0, "mist.location") == 41 and s.held(0, "mist.zone") == -1 and s.held(1, "mist.location") == -1
    )
    assert s.snapshot({}) == []  # nothing changed since
    assert not s.dirty
    s.put(0, "aa", {"x": 4})
    assert s.dirty
    marks = {"mist.location": 41, "mist.zone": 3}  # they only grow
    assert s.snapshot({0: {"mist.zone": 3}}) == [(0, "0|aa", {"x": 4, "_m": marks}), (0, f"0|{MARKS}", marks)]


def test_a_rebuild_holds_what_was_recovered_for_the_partitions_owned():
    recovered = {
        "0|aa": {"map_id": "m", "_exp": 100.0},
        "1|bb": {"map_id": "m"},
        f"0|{MARKS}": {"mist.location": 9},
        f"1|{MARKS}": {"mist.location": 5},
    }
    changes: list = []
    s = State(
        table(),
        dict(recovered),
        60.0,
        indexed=True,
        on_change=lambda p, k, v: changes.append((p, k, v is None)),
    )
    s.rebuild({0, 1})
    assert (s.held(0, "mist.location"), s.held(1, "mist.location")) == (9, 5)
    assert sorted(changes) == [(0, "aa", False), (1, "bb", False)]
    assert len(s.expiry) == 1  # "1|bb" has no deadline
    changes.clear()
    s.rebuild({0})  # partition 1 went to another worker: its keys go, and are reported gone
    assert "1|bb" not in s.data and s.get(0, "aa") is not None
    assert (1, "bb", True) in changes and (0, "aa", True) not in changes
    assert s.held(1, "mist.location") == -1 and s.keys_of(1, "bb") == []


def test_expiry_deletes_what_passed_its_deadline_and_tombstones_it():
    s = state(retention_s=10)
    s.put(0, "old", {"v": 1}, now=100)
    s.put(0, "fresh", {"v": 1}, now=100)
    s.put(0, "fresh", {"v": 2}, now=105)  # refreshed: its entry is re-queued, not expired
    s.snapshot({})
    assert s.expire(now=111) == 1
    assert s.get(0, "old") is None and public(s.get(0, "fresh")) == {"v": 2}
    assert s.snapshot({}) == [(0, "0|old", None)]
    assert s.expire(now=116) == 1
    assert s.get(0, "fresh") is None


def test_expiry_leaves_the_keys_of_partitions_given_away():
    s = state(retention_s=10)
    s.put(1, "aa", {"v": 1}, now=100)
    s.rebuild({0})
    assert s.expire(now=1000) == 0


def test_no_retention_no_deadline():
    s = state()
    s.put(0, "aa", {"v": 1})
    assert s.get(0, "aa") == {"v": 1} and s.expire(now=1e12) == 0
