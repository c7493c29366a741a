"""Site-wide topics: webhook ping, site SLE scores, virtual beacons."""

from __future__ import annotations

from topics.models.common import MistEvent, Timestamp


class PingEvent(MistEvent):
    """``ping`` (spec: webhook_ping_event): Mist's test of a webhook."""

    id: str | None = None
    name: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class SiteSleEvent(MistEvent):
    """``site-sle``: a site's SLE scores, metric name → score (0..1)."""

    org_id: str | None = None
    site_id: str | None = None
    sle: dict[str, float] | None = None
    timestamp: Timestamp | None = None


class VbeaconEvent(MistEvent):
    """``vbeacon`` (no sample, no spec fields found): the envelope only; everything else is kept as extra."""

    map_id: str | None = None
    org_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
