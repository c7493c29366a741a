"""Aggregates: per site partition, what each client, zone, beacon and device comes to.

One module per aggregate: its pure functions (state in, new state out) and the class that holds its state
(`pipeline.state.State`, one per kind of value) and applies an enriched event to it. Rules for the pure
functions:

- Values are plain JSON types (dicts, lists, str, float, int, bool, None): what
  `orjson.loads(orjson.dumps(v))` gives back is accepted again unchanged. No tuples inside stored values
  (JSON turns them into lists).
- Nothing mutates its input; an unchanged state may be returned as the very same object (`new is old`).
- Deterministic and, wherever the issue asks for it, independent of arrival order: Mist batches and retries,
  so the newest event *by event time* wins, and ties are broken on the content, never on arrival.

An event read again after a crash may be applied again. Locations, zones, devices and alerts are unchanged by
a second application (newest wins; a zone event already in the member's history is a duplicate; a visit is
counted in its window by its id). RSSI windows count: a window restored from the changelog says which
records it holds (its marks, state.py), and those are not counted again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pipeline.aggregates.alerts import Alerts
from pipeline.aggregates.devices import Devices
from pipeline.aggregates.locations import Locations
from pipeline.aggregates.rssi import Rssi
from pipeline.aggregates.zones import Zones
from pipeline.state import State


class Aggregate(Protocol):
    topics: frozenset[str]

    @property
    def states(self) -> tuple[State, ...]: ...

    def apply(
        self, partition: int, mist_topic: str, event: Mapping[str, Any], wall: float, source: tuple[str, int]
    ) -> None:
        """Apply one enriched event, read at `source` (topic, offset) of `partition`."""


class Aggregates:
    def __init__(
        self, locations: Locations, zones: Zones, rssi: Rssi, devices: Devices, alerts: Alerts
    ) -> None:
        self.locations, self.zones, self.rssi, self.devices, self.alerts = (
            locations,
            zones,
            rssi,
            devices,
            alerts,
        )
        self.all: tuple[Aggregate, ...] = (locations, zones, rssi, devices, alerts)
        self._by_topic: dict[str, tuple[Aggregate, ...]] = {}
        for aggregate in self.all:
            for topic in aggregate.topics:
                self._by_topic[topic] = (*self._by_topic.get(topic, ()), aggregate)

    def states(self) -> list[State]:
        return [state for aggregate in self.all for state in aggregate.states]

    def of(self, mist_topic: str) -> tuple[Aggregate, ...]:
        return self._by_topic.get(mist_topic, ())


def build(
    state: Callable[[str, float | None, bool], State],
    publish: Callable[[str, str, dict[str, Any], float], None],
    settings: Any,
    on_ignored_exits: Callable[[str, int], None] | None = None,
) -> Aggregates:
    """The worker's aggregates: `state(name, retention_s, indexed)` makes each State, `publish(kind, key,
    record, event time)` writes a visit ("visits") or a closed RSSI window ("rssi"); windows and horizons
    from `settings` (mistpipe.settings.Settings)."""
    retention = settings.retention_seconds
    return Aggregates(
        Locations(state("locations", retention, False)),
        Zones(
            state("zone-members", retention, True),  # by zone
            state("zone-visit-windows", retention, True),
            publish,
            settings.dedupe_seconds,
            settings.visit_window_seconds,
            on_ignored_exits,
        ),
        Rssi(state("rssi-windows", retention, True), publish, settings.rssi_window_seconds),  # by emitter
        Devices(state("devices", None, False)),
        Alerts(state("occupancy-alerts", None, False)),
    )
