"""The records mistpipe publishes, as pydantic models: the contract for consumers of its Kafka topics.

- ``mist.<topic>.enriched``: the topic's event (as ``model_dump(mode="json", exclude_unset=True)`` wrote it:
  enums as their values, MACs normalised, timestamps as floats, unknown fields kept) plus ``site``, ``map``,
  ``zone``, ``x_px``/``y_px`` where the reference data has them, and ``mist``, the record's provenance.
- ``mist.zone.visits``: completed zone visits; ``mist.rssi.windows``: closed RSSI windows per beacon/client.
- ``mist.deadletter``: what could not be parsed, with the reason.

Every record is a JSON object keyed by a JSON string (topics.serde). ``schemas()`` gives their JSON Schemas.
The shapes mistpipe fixes itself (provenance, reference summaries, derived records) are strict and closed;
event fields stay as tolerant as the event models, which keep what Mist adds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from topics.catalogue import CATALOGUE, MistTopic, lookup
from topics.names import (
    DEFAULT_PREFIX,
    deadletter_topic,
    enriched_topic,
    rssi_windows_topic,
    zone_visits_topic,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Record(BaseModel):
    """A shape mistpipe itself writes: no coercion ("1" is not 1), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- parts of an enriched record ---------------------------------------------------------------------------


class SiteInfo(_Record):
    """The event's site, from Mist's sites API (``mist.ref.sites``)."""

    id: str
    name: str | None = None
    timezone: str | None = None
    country_code: str | None = None
    lat: float | None = None
    lng: float | None = None


class MapInfo(_Record):
    """The event's map, from Mist's maps API (``mist.ref.maps``): size in pixels and meters, pixels/meter."""

    id: str
    name: str | None = None
    ppm: float | None = Field(default=None, description="pixels per meter")
    width: float | None = Field(default=None, description="pixels (an integer in Mist's API)")
    height: float | None = Field(default=None, description="pixels (an integer in Mist's API)")
    width_m: float | None = None
    height_m: float | None = None


class ZoneInfo(_Record):
    """The event's zone, from Mist's zones API (``mist.ref.zones``)."""

    id: str
    name: str | None = None


class Source(_Record):
    """Where the raw webhook body was read: the raw Kafka topic, partition and offset; and, for an event,
    its position in the body (together a unique, ordered identity of the event's delivery)."""

    topic: str
    partition: int
    offset: int
    index: int | None = None


class FieldWarning(_Record):
    """A field of the event that did not fit its type."""

    field: str = Field(description="the field, dotted (`scan_data.0.ap`)")
    message: str


class Provenance(_Record):
    """Where an enriched record comes from and how complete its enrichment is."""

    topic: str = Field(description="the Mist topic (normalised: `-`, not `_`)")
    enriched: bool = Field(description="true when every site, map and zone the event names was found")
    missing: list[Literal["site", "map", "zone"]] = Field(
        description="what the event names but the reference data lacked"
    )
    source: Source
    received_at_ms: int | None = Field(description="when the ingest received the body, epoch milliseconds")
    warnings: list[FieldWarning] = Field(
        default_factory=list,
        description="fields of the event that did not fit their type: each is kept as received (so it may "
        "not match this schema) and left out of the aggregates, unless it names the thing the event is "
        "about (a `mac` that is no MAC), which is then used as received",
    )
    original: dict[str, Any] | None = Field(
        default=None,
        description="field (dotted) → value as received, where mistpipe converted it: an ISO-8601 time sent "
        "where epoch seconds are specified carries epoch seconds in its field, and its original here",
    )


_ENRICHMENT: dict[str, Any] = {
    "site": (SiteInfo | None, Field(default=None, description="present when the event's site_id is known")),
    "map": (MapInfo | None, Field(default=None, description="present when the event's map_id is known")),
    "zone": (ZoneInfo | None, Field(default=None, description="present when the event's zone_id is known")),
    "x_px": (float | None, Field(default=None, description="x in map pixels (x meters * ppm)")),
    "y_px": (float | None, Field(default=None, description="y in map pixels (y meters * ppm)")),
    "mist": (Provenance, Field(description="provenance of the record")),
}


def _camel(topic: str) -> str:
    return "".join(part.capitalize() for part in topic.split("-"))


_ENRICHED_MODELS: dict[str, type[BaseModel]] = {}


def _needs_check(topic: MistTopic) -> Any:
    """A model validator: every record carries what its topic needs (parsing dead-letters the rest)."""

    def check(record: BaseModel) -> BaseModel:
        for need in topic.needs:
            if all(getattr(record, f, None) in (None, "") for f in need.fields):
                raise ValueError(f"missing {need.describe()}: {need.why}")
        return record

    return model_validator(mode="after")(check)


def _enriched_model(name: str) -> type[BaseModel]:
    model = _ENRICHED_MODELS.get(name)
    if model is None:
        topic = CATALOGUE[name]
        event_model = topic.model
        doc = f"An enriched `{name}` event: {event_model.__name__} plus reference data and provenance."
        model = create_model(
            f"{_camel(name)}Enriched",
            __base__=event_model,
            __doc__=doc,
            __validators__={"_needs": _needs_check(topic)} if topic.needs else None,
            **_ENRICHMENT,
        )
        model = _ENRICHED_MODELS.setdefault(name, model)
    return model


def enriched_model(mist_topic: str) -> type[BaseModel]:
    """The model of ``mist.<topic>.enriched`` records: the topic's event model plus the optional ``site``,
    ``map``, ``zone``, ``x_px``, ``y_px`` and the required ``mist`` provenance. One class per topic, in any
    of Mist's spellings (``LocationEnriched`` for ``location``); KeyError for a topic not catalogued."""
    topic = lookup(mist_topic)
    if topic is None:
        raise KeyError(f"not a catalogued Mist topic: {mist_topic!r}")
    return _enriched_model(topic.name)


# -- derived records ---------------------------------------------------------------------------------------


class ZoneVisit(_Record):
    """A completed visit of a zone (or RSSI zone): an enter paired with the next exit by event time."""

    zone_id: str = Field(description="the zone id (for an RSSI zone, its rssizone_id); the record key")
    zone_name: str | None = None
    site_id: str | None = None
    map_id: str | None = None
    member: str = Field(description="who visited: a client or asset MAC, or an SDK client id")
    member_type: str | None = Field(default=None, description="asset, sdk or wifi, as the event says")
    entered: float = Field(description="event time of the enter, epoch seconds")
    exited: float = Field(description="event time of the exit, epoch seconds")
    dwell_s: float = Field(ge=0, description="exited - entered, seconds")
    retracted: bool = Field(
        default=False,
        description="true: a late event changed this visit after it was published; drop the visit published "
        "earlier with the same zone_id, member and entered",
    )


class RssiApStats(_Record):
    """RSSI of one emitter heard by one AP over one window, dBm."""

    count: int = Field(ge=1)
    sum: float
    min: float
    max: float
    last: float = Field(description="the sample with the newest event time")


class RssiWindow(_Record):
    """RSSI of one beacon or client over one tumbling event-time window, per reporting AP."""

    mac: str = Field(description="the beacon / client MAC, 12 lowercase hex digits; the record key")
    start: float = Field(description="window start, epoch seconds (inclusive)")
    end: float = Field(description="window end, epoch seconds (exclusive)")
    aps: dict[str, RssiApStats] = Field(description="per reporting AP")


class DeadLetterError(_Record):
    """One reason a body or event was refused."""

    field: str | None = Field(description="the offending field, dotted (`scan_data.0.band`); null: the whole")
    message: str
    type: str = Field(description="pydantic's error type, or `body` / `event`")


class DeadLetterRecord(_Record):
    """A webhook body or event that could not be parsed, with the reasons."""

    mist_topic: str | None
    errors: list[DeadLetterError]
    event: Any = Field(description="the offending event as received (null when the body itself was bad)")
    body: str | None = Field(
        description="the offending body as text (up to 64 KiB), when unreadable as a whole"
    )
    index: int | None = Field(description="the event's position in its body")
    source: Source
    received_at_ms: int | None


# -- JSON Schemas ------------------------------------------------------------------------------------------


def _key_text(fields: tuple[str, ...]) -> str:
    return ", else ".join(f"`{f}`" for f in fields)


def _describe(topic: str, key: str, records: str, doc: str | None) -> str:
    return (
        f"Kafka topic `{topic}`. Value: this JSON object. Key: {key}, as a JSON string. {records} "
        f"{(doc or '').strip()}"
    ).strip()


def _schema(model: type[BaseModel], name: str, description: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **schema,
        "title": f"mistpipe/{name}",
        "description": description,
    }


def schemas(prefix: str = DEFAULT_PREFIX) -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (Draft 2020-12) of every record mistpipe publishes: one
    ``enriched/<topic>.json`` per catalogued Mist topic, ``derived/zone.visits.json``,
    ``derived/rssi.windows.json`` and ``deadletter.json``.
    Each is titled ``mistpipe/<file name>``; its description names the Kafka topic (under ``prefix``), the
    record key and how records supersede each other. Fresh dicts on every call."""
    out: dict[str, dict[str, Any]] = {}
    for name, topic in CATALOGUE.items():
        records = (
            "One record per event, duplicates dropped; records never supersede each other. The Kafka record "
            "timestamp is the event time (the time of publishing for an event without one)."
        )
        key = f"the event's {_key_text(topic.key_fields)} (else its fingerprint)"
        model = enriched_model(name)
        file = f"enriched/{name}.json"
        out[file] = _schema(model, file, _describe(enriched_topic(name, prefix), key, records, model.__doc__))
        # What the topic needs is in every record (an event without it is dead-lettered instead).
        needs = [
            {"anyOf": [{"required": [f]} for f in need.fields]}
            if len(need.fields) > 1
            else {"required": list(need.fields)}
            for need in topic.needs
        ]
        if needs:
            out[file]["allOf"] = needs
    file = "derived/zone.visits.json"
    records = (
        "One record per completed visit. A record with `retracted` true withdraws the visit published "
        "earlier with the same zone_id, member and entered (a late event changed it): drop that earlier one."
    )
    out[file] = _schema(
        ZoneVisit, file, _describe(zone_visits_topic(prefix), "its `zone_id`", records, ZoneVisit.__doc__)
    )
    file = "derived/rssi.windows.json"
    records = (
        "One record per closed window; a later record with the same mac and start supersedes the earlier one "
        "(late samples)."
    )
    out[file] = _schema(
        RssiWindow, file, _describe(rssi_windows_topic(prefix), "its `mac`", records, RssiWindow.__doc__)
    )
    file = "deadletter.json"
    records = "One record per refused event, or per refused body; records never supersede each other."
    out[file] = _schema(
        DeadLetterRecord,
        file,
        _describe(
            deadletter_topic(prefix),
            "the Mist topic the body was routed by",
            records,
            DeadLetterRecord.__doc__,
        ),
    )
    return out
