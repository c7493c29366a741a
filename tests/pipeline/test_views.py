"""The query API's pure parts: merging the workers' answers."""

from pipeline.views import newest_by_key


def location(key: str, t: float, x: float) -> dict:
    return {"key": key, "timestamp": t, "x": x}


def test_one_record_per_entity_the_newest():
    # While a rebalance moves a key, the worker that lost it and its new owner may both answer for it.
    before = [location("bb", 10, 1.0), location("aa", 20, 2.0)]
    after = [location("aa", 25, 3.0), location("cc", 5, 4.0)]
    assert newest_by_key([before, after]) == [
        location("aa", 25, 3.0),
        location("bb", 10, 1.0),
        location("cc", 5, 4.0),
    ]
    assert newest_by_key([after, before]) == newest_by_key([before, after])  # whichever answered first


def test_no_answers():
    assert newest_by_key([]) == [] and newest_by_key([[], []]) == []
