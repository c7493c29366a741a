"""State's index after a rebalance, on a stand-in for a Faust table (no broker)."""

import asyncio

from faust.types import TP

from pipeline.state import State

CHANGELOG = "app-locations-changelog"


class FakeTable:
    name = "locations"

    def __init__(self) -> None:
        self.data: dict = {}
        self.changelog_topic = type("Topic", (), {"get_topic_name": staticmethod(lambda: CHANGELOG)})()

    def on_recover(self, callback) -> None:
        self.recovered = callback

    def send_changelog(self, partition, key, value, value_serializer=None) -> None:
        pass


def test_keys_of_a_partition_given_away_are_reported_gone():
    owned = {TP(CHANGELOG, 0), TP(CHANGELOG, 1)}
    changes: list = []
    state = State(FakeTable(), None, lambda: owned, on_change=lambda key, value: changes.append((key, value)))
    state.put("aa", {"map_id": "m"}, partition=0)
    state.put("bb", {"map_id": "m"}, partition=1)
    changes.clear()

    owned.discard(TP(CHANGELOG, 1))  # a rebalance: partition 1 now belongs to another worker
    asyncio.run(state.rebuild())
    # The table may still hold bb (a standby copy); this worker's indexes must not.
    assert state.keys_of("bb") == [] and state.keys_of("aa") == ["aa"] and len(state) == 1
    assert ("bb", None) in changes and ("aa", None) not in changes
