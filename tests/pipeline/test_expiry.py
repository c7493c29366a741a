"""expiry: deadlines of plain-table keys, deletes and changelog tombstones, rebuilt after recovery."""

from __future__ import annotations

from typing import Any

from pipeline.expiry import ExpiryIndex, expire_due


class FakeTable:
    """What expire_due uses of a Faust table: its `data` store and `send_changelog`."""

    def __init__(self, data: dict[Any, Any] | None = None) -> None:
        self.data: dict[Any, Any] = dict(data or {})
        self.sent: list[tuple[int, Any, Any, str]] = []

    def send_changelog(
        self, partition: int, key: Any, value: Any = None, value_serializer: str = "raw"
    ) -> None:
        self.sent.append((partition, key, value, value_serializer))


def deadline_of(value: dict) -> float:
    return value["deadline"]


def entries(index: ExpiryIndex) -> list[tuple[float, int, Any]]:
    return index.pop_due(float("inf"), limit=len(index) + 1)


# -- ExpiryIndex ---------------------------------------------------------------------------------------------


def test_empty_index():
    index = ExpiryIndex()
    assert len(index) == 0
    assert index.pop_due(1e12) == []


def test_pop_due_in_deadline_order():
    index = ExpiryIndex()
    for deadline, partition, key in [(30, 0, "c"), (10, 1, "a"), (20, 2, "b"), (40, 0, "d")]:
        index.add(deadline, partition, key)
    assert len(index) == 4
    assert index.pop_due(25) == [(10, 1, "a"), (20, 2, "b")]
    assert len(index) == 2
    assert index.pop_due(25) == []
    assert index.pop_due(30) == [(30, 0, "c")]  # a deadline equal to now is due
    assert entries(index) == [(40, 0, "d")]
    assert len(index) == 0


def test_nothing_due_before_the_first_deadline():
    index = ExpiryIndex()
    index.add(100.0, 0, "k")
    assert index.pop_due(99.999) == []
    assert len(index) == 1


def test_same_deadline_ordered_by_partition_then_key():
    index = ExpiryIndex()
    index.add(5, 2, "a")
    index.add(5, 1, "b")
    index.add(5, 1, "a")
    assert index.pop_due(5) == [(5, 1, "a"), (5, 1, "b"), (5, 2, "a")]


def test_pop_due_limit():
    index = ExpiryIndex()
    for i in range(10):
        index.add(float(i), 0, f"k{i}")
    first = index.pop_due(100, limit=3)
    assert [k for _, _, k in first] == ["k0", "k1", "k2"]
    assert len(index) == 7
    assert [k for _, _, k in index.pop_due(100, limit=4)] == ["k3", "k4", "k5", "k6"]
    assert [k for _, _, k in index.pop_due(100)] == ["k7", "k8", "k9"]
    assert index.pop_due(100, limit=5) == []


def test_pop_due_limit_zero():
    index = ExpiryIndex()
    index.add(1, 0, "k")
    assert index.pop_due(10, limit=0) == []
    assert len(index) == 1


def test_rebuild_replaces_the_heap():
    index = ExpiryIndex()
    index.add(1, 0, "stale")
    index.rebuild([(50, 1, "x"), (20, 0, "y"), (35, 2, "z")])
    assert len(index) == 3
    assert entries(index) == [(20, 0, "y"), (35, 2, "z"), (50, 1, "x")]


def test_rebuild_from_a_generator_then_add():
    index = ExpiryIndex()
    table = {"a": 30, "b": 10, "c": 20}
    index.rebuild((deadline, 0, key) for key, deadline in table.items())
    index.add(15, 1, "d")
    assert [k for _, _, k in index.pop_due(20)] == ["b", "d", "c"]
    index.rebuild([])
    assert len(index) == 0


# -- expire_due ----------------------------------------------------------------------------------------------


def test_deletes_due_keys_and_tombstones_on_their_partition():
    table = FakeTable({"a": {"deadline": 10}, "b": {"deadline": 20}, "c": {"deadline": 99}})
    index = ExpiryIndex()
    index.add(10, 3, "a")
    index.add(20, 5, "b")
    index.add(99, 3, "c")
    assert expire_due(table, index, 50, deadline_of) == 2
    assert table.data == {"c": {"deadline": 99}}
    assert sorted(table.sent) == [(3, "a", None, "raw"), (5, "b", None, "raw")]
    assert entries(index) == [(99, 3, "c")]


def test_nothing_due():
    table = FakeTable({"a": {"deadline": 10}})
    index = ExpiryIndex()
    index.add(10, 0, "a")
    assert expire_due(table, index, 9, deadline_of) == 0
    assert table.data == {"a": {"deadline": 10}} and table.sent == []
    assert len(index) == 1


def test_refreshed_key_is_requeued_with_its_new_deadline():
    table = FakeTable({"a": {"deadline": 80}})
    index = ExpiryIndex()
    index.add(10, 2, "a")  # the deadline the key had when it was indexed
    assert expire_due(table, index, 50, deadline_of) == 0
    assert table.data == {"a": {"deadline": 80}}
    assert table.sent == []
    assert entries_copy(index) == [(80, 2, "a")]
    # Once the new deadline passes, it goes.
    assert expire_due(table, index, 80, deadline_of) == 1
    assert table.data == {}
    assert table.sent == [(2, "a", None, "raw")]
    assert len(index) == 0


def entries_copy(index: ExpiryIndex) -> list[tuple[float, int, Any]]:
    """The entries, left in the index."""
    found = entries(index)
    index.rebuild(found)
    return found


def test_keys_already_gone_are_skipped():
    table = FakeTable({"b": {"deadline": 5}})
    index = ExpiryIndex()
    index.add(1, 0, "gone")
    index.add(5, 0, "b")
    assert expire_due(table, index, 10, deadline_of) == 1
    assert table.sent == [(0, "b", None, "raw")]
    assert len(index) == 0


def test_stale_duplicate_entries_delete_once():
    table = FakeTable({"a": {"deadline": 5}})
    index = ExpiryIndex()
    index.add(3, 1, "a")
    index.add(5, 1, "a")
    assert expire_due(table, index, 10, deadline_of) == 1
    assert table.sent == [(1, "a", None, "raw")]


def test_keys_of_other_partitions_are_left():
    table = FakeTable({"mine": {"deadline": 1}, "theirs": {"deadline": 1}, "also-mine": {"deadline": 2}})
    index = ExpiryIndex()
    index.add(1, 0, "mine")
    index.add(1, 1, "theirs")
    index.add(2, 2, "also-mine")
    assert expire_due(table, index, 10, deadline_of, active_partitions={0, 2}) == 2
    assert table.data == {"theirs": {"deadline": 1}}
    assert sorted(table.sent) == [(0, "mine", None, "raw"), (2, "also-mine", None, "raw")]


def test_no_active_partitions_deletes_nothing():
    table = FakeTable({"a": {"deadline": 1}})
    index = ExpiryIndex()
    index.add(1, 0, "a")
    assert expire_due(table, index, 10, deadline_of, active_partitions=set()) == 0
    assert table.data == {"a": {"deadline": 1}} and table.sent == []


def test_limit_bounds_one_round():
    table = FakeTable({f"k{i}": {"deadline": i} for i in range(5)})
    index = ExpiryIndex()
    index.rebuild((i, 0, f"k{i}") for i in range(5))
    assert expire_due(table, index, 100, deadline_of, limit=2) == 2
    assert sorted(table.data) == ["k2", "k3", "k4"]
    assert expire_due(table, index, 100, deadline_of, limit=2) == 2
    assert expire_due(table, index, 100, deadline_of, limit=2) == 1
    assert table.data == {}
    assert [k for _, k, _, _ in table.sent] == [f"k{i}" for i in range(5)]


def test_rebuild_after_recovery_then_expire():
    # After a restart the index is empty; the deadlines live in the values, so it is rebuilt from the table.
    table = FakeTable({("site", 1): {"deadline": 10}, ("site", 2): {"deadline": 30}})
    partitions = {("site", 1): 4, ("site", 2): 6}
    index = ExpiryIndex()
    assert expire_due(table, index, 20, deadline_of) == 0
    index.rebuild((deadline_of(v), partitions[k], k) for k, v in table.data.items())
    assert expire_due(table, index, 20, deadline_of) == 1
    assert table.data == {("site", 2): {"deadline": 30}}
    assert table.sent == [(4, ("site", 1), None, "raw")]
    assert len(index) == 1


def test_falsy_values_are_still_values():
    table = FakeTable({"zero": 0.0})
    index = ExpiryIndex()
    index.add(0.0, 0, "zero")
    assert expire_due(table, index, 1.0, lambda v: v) == 1
    assert table.data == {}
