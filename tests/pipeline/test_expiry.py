"""expiry: the heap of deadlines (deletes and tombstones are State's: test_state.py)."""

from __future__ import annotations

from typing import Any

from pipeline.expiry import ExpiryIndex


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
