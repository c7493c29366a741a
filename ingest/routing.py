"""From a webhook body to a Kafka record: its shape, its Kafka topic, its key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from topics.catalogue import lookup
from topics.names import raw_topic, unrouted_topic
from topics.serde import encode_key


class ShapeError(ValueError):
    """The body is not a Mist webhook body; the message says what is wrong (it goes back in the 400)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    topic: str  # the Mist topic as the body spells it
    events: list[dict[str, Any]]


def parse(body: bytes) -> Webhook:
    """``{"topic": "<mist topic>", "events": [{...}, ...]}``, or ShapeError naming what is wrong."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ShapeError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ShapeError(f"body must be a JSON object, not {_kind(doc)}")
    for field in ("topic", "events"):
        if field not in doc:
            raise ShapeError(f'"{field}" is missing')
    topic, events = doc["topic"], doc["events"]
    if not isinstance(topic, str):
        raise ShapeError(f'"topic" must be a string, not {_kind(topic)}')
    if not topic.strip():
        raise ShapeError('"topic" must not be empty')
    if not isinstance(events, list):
        raise ShapeError(f'"events" must be a list, not {_kind(events)}')
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise ShapeError(f'"events"[{i}] must be an object, not {_kind(event)}')
    return Webhook(topic, events)


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def _kind(value: object) -> str:
    return _KINDS.get(type(value), "a number")


def kafka_topic(mist_topic: str, prefix: str) -> str:
    """The catalogued topic's raw Kafka topic (``location_asset`` → ``mist.location-asset``), else unrouted.
    Never a name made from outside input."""
    return raw_topic(mist_topic, prefix) if lookup(mist_topic) is not None else unrouted_topic(prefix)


def _shared(events: list[dict[str, Any]], *fields: str) -> str | None:
    """The one string value that every event has in the first of `fields` it sets, else None."""
    shared = None
    for event in events:
        value = None
        for f in fields:
            value = event.get(f)
            if value:
                break
        if not value or not isinstance(value, str) or (shared is not None and value != shared):
            return None
        shared = value
    return shared


def record_key(events: list[dict[str, Any]]) -> bytes | None:
    """The site id when every event shares one (`siteid` in older wifi-*-raw payloads), else the org id when
    they share one, else None; as JSON string bytes, the way the pipeline's tables hash keys."""
    return encode_key(_shared(events, "site_id", "siteid") or _shared(events, "org_id"))
