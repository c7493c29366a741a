"""Parse: one raw webhook body → valid, normalised events and dead letters. Pure functions, no Faust.

A body is split into its events and each is validated alone, so that one bad event never costs the valid
ones beside it. What cannot be parsed becomes a DeadLetter carrying the reason (field and message).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from topics.catalogue import lookup, normalise_topic
from topics.keys import entity_key


@dataclass(slots=True)
class ParsedEvent:
    mist_topic: str
    event: dict[str, Any]  # normalised: MACs, enum case, numbers; unknown fields kept
    key: str  # the entity the topic's aggregation groups on (falls back to the fingerprint)
    timestamp: float | None  # event time, epoch seconds
    fingerprint: str  # same topic + same content → same fingerprint (dedupe)
    index: int = 0  # the event's position in its body


@dataclass(slots=True)
class DeadLetter:
    mist_topic: str | None
    errors: list[dict[str, Any]]  # [{"field": "x", "message": "..."}]; field None for the body as a whole
    event: Any = None  # the offending event, as received
    body: str | None = None  # the offending body, when the body itself could not be read
    index: int | None = None  # the event's position in its body


@dataclass(slots=True)
class ParsedBody:
    mist_topic: str | None
    events: list[ParsedEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def fingerprint(mist_topic: str, event: Any) -> str:
    """Identity of an event's content: key order and whitespace do not matter, every value does."""
    data = mist_topic.encode() + b"\0" + orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def event_time(event: dict[str, Any]) -> float | None:
    """Event time in epoch seconds: `timestamp`; sdkclient-scan-data has `last_seen`; occupancy-alerts
    events carry time only in their alerts (the newest counts); wifi-*-raw carry none (None)."""
    ts = event.get("timestamp")
    if ts is None:
        ts = event.get("last_seen")
    if ts is None and event.get("alert_events"):
        ts = max((a.get("timestamp") or 0 for a in event["alert_events"]), default=None) or None
    return float(ts) if ts is not None else None


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as [{"field": "scan_data.0.band", "message": "..."}]."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or None, "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _body_error(message: str) -> list[dict[str, Any]]:
    return [{"field": None, "message": message, "type": "body"}]


def _body_text(raw: bytes, limit: int = 64 * 1024) -> str:
    return raw[:limit].decode("utf-8", errors="replace")


def parse_body(raw: bytes, mist_topic: str | None = None) -> ParsedBody:
    """Split and validate one raw body. `mist_topic` is the topic the body was routed by (from the raw
    Kafka topic); the body's own `topic` is used when it is not given."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ParsedBody(
            mist_topic, dead=[DeadLetter(mist_topic, _body_error(f"not JSON: {exc}"), body=_body_text(raw))]
        )
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        error = "not a webhook body: expected an object with a list `events`"
        return ParsedBody(mist_topic, dead=[DeadLetter(mist_topic, _body_error(error), body=_body_text(raw))])
    name = normalise_topic(mist_topic if mist_topic is not None else str(body.get("topic", "")))
    topic = lookup(name)
    if topic is None:
        error = f"not a catalogued Mist topic: {name!r}"
        return ParsedBody(name, dead=[DeadLetter(name, _body_error(error), body=_body_text(raw))])

    result = ParsedBody(topic.name)
    model = topic.model
    for index, event in enumerate(body["events"]):
        if not isinstance(event, dict):
            error = [{"field": None, "message": "an event must be a JSON object", "type": "event"}]
            result.dead.append(DeadLetter(topic.name, error, event=event, index=index))
            continue
        try:
            parsed = model.model_validate(event)
        except ValidationError as exc:
            result.dead.append(DeadLetter(topic.name, validation_errors(exc), event=event, index=index))
            continue
        normalised = parsed.model_dump(mode="json", exclude_unset=True)
        print_ = fingerprint(topic.name, normalised)
        result.events.append(
            ParsedEvent(
                mist_topic=topic.name,
                event=normalised,
                key=entity_key(topic.name, parsed) or print_,
                timestamp=event_time(normalised),
                fingerprint=print_,
                index=index,
            )
        )
    return result
