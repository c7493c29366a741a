"""Record keys of the enriched topics: the entity each topic's aggregation groups on.

Records of one key land on one partition, so the worker that owns a table key sees all of its events.
The key fields of each topic are declared in the catalogue (MistTopic.key_fields), tried in order:

- location: the client or asset ``mac``, else the SDK ``id`` (an SDK client has no MAC, only its id);
  location-asset/-centrak/-client/-unclient: ``mac``; location-sdk: ``id``.
- zone: ``zone_id`` (visits are counted per zone); rssizone: ``rssizone_id``.
- discovered-raw-rssi, asset-raw, asset-raw-rssi: the beacon ``mac``, so an emitter's RSSI window is whole.
- wifi-conn-raw, wifi-unconn-raw: ``client_id``, the Wi-Fi client heard (their counterpart of a beacon).
- sdkclient-scan-data: the SDK client's ``mac``.
- device-events, device-updowns: the device ``mac``, else ``ap`` (AP-only, deprecated spelling).
- occupancy-alerts: ``site_id`` (one event carries several zones' alerts); ping: ``site_id`` (it has no org).
- alarms, audits, client-*, nac-*, and the rest: ``site_id``, else ``org_id`` for org-level events; this
  keeps a site's events in order without inventing an entity.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from pydantic import BaseModel

from topics.catalogue import lookup

# For a topic outside the catalogue (it never gets parsed, but be total): the site, else the org.
DEFAULT_KEY_FIELDS = ("site_id", "org_id")


def entity_key(mist_topic: str, event: BaseModel | Mapping[str, Any]) -> str | None:
    """The key of the enriched record of ``event`` (a model, or its dump), or None when the event carries
    none of its key fields as a string or number (a value kept as received may be neither)."""
    topic = lookup(mist_topic)
    get = event.get if isinstance(event, Mapping) else partial(getattr, event)
    for field in topic.key_fields if topic is not None else DEFAULT_KEY_FIELDS:
        value = get(field, None)
        if value and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    return None
