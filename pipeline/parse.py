"""Parse: one raw webhook body → valid, normalised events and dead letters. Pure functions, no Faust.

A body is split into its events and each is validated alone, so that one bad event never costs the valid
ones beside it. An event is refused (a DeadLetter carrying the field and the reason) only when it lacks what
its topic needs (``MistTopic.needs``). A field that is wrong but not needed costs nothing: the event flows,
the field is kept as received and the event carries a warning naming it. An ISO-8601 time where epoch seconds
are specified is converted, and the original kept beside it.

The common case, a valid event, is one pydantic call; the tolerant path runs only when that call fails.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from topics.catalogue import MistTopic, Need, lookup, normalise_topic
from topics.models.common import ISO_TIME

Path = tuple[str | int, ...]
# A value that fails its type is removed and the event validated again; each pass removes at least one
# value, and a nested value that fails can fail once more as a whole: a few passes settle any event.
_MAX_PASSES = 8


@dataclass(slots=True)
class ParsedEvent:
    mist_topic: str
    event: dict[str, Any]  # normalised: MACs, enum case, numbers; unknown fields and misfits kept
    key: str  # the entity the topic's aggregation groups on (falls back to the fingerprint)
    timestamp: float | None  # event time, epoch seconds
    fingerprint: str  # same topic + same content → same fingerprint (dedupe)
    index: int = 0  # the event's position in its body
    warnings: list[dict[str, str]] = field(default_factory=list)  # [{"field": "ap", "message": "..."}]
    original: dict[str, Any] = field(default_factory=dict)  # dotted field → value as received (coerced)


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


@dataclass(slots=True)
class Checked:
    """An event that has what its topic needs."""

    event: dict[str, Any]
    warnings: list[dict[str, str]]
    original: dict[str, Any]


def fingerprint(mist_topic: str, event: Any) -> str:
    """Identity of an event's content: key order and whitespace do not matter, every value does."""
    data = mist_topic.encode() + b"\0" + orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def event_time(event: dict[str, Any]) -> float | None:
    """Event time in epoch seconds: `timestamp`; sdkclient-scan-data has `last_seen`; occupancy-alerts
    events carry time only in their alerts (the newest counts); wifi-*-raw carry none (None). A time kept as
    received because it was no time at all counts as none."""
    ts = _seconds(event.get("timestamp"))
    if ts is None:
        ts = _seconds(event.get("last_seen"))
    if ts is None and isinstance(event.get("alert_events"), list):
        times = [_seconds(a.get("timestamp")) for a in event["alert_events"] if isinstance(a, dict)]
        ts = max((t for t in times if t), default=None)
    return ts


def dotted(loc: Path) -> str | None:
    return ".".join(str(p) for p in loc) or None


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as [{"field": "scan_data.0.band", "message": "..."}]."""
    return [
        {"field": dotted(err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


# -- tolerant validation -----------------------------------------------------------------------------------


def _reach(event: Any, loc: Path) -> tuple[Path, Path]:
    """How far `loc` reaches into `event`: (the part that addresses a value in it, the part of that which
    ends at a key of an object). pydantic's locations can go on past the value (``duration.int``, a union's
    member); and an item of a list of MACs (``aps.1``) is not a key: the list is."""
    cut: Path = ()
    node = event
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            cut = loc[: i + 1]
        elif not (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            return loc[:i], cut
        node = node[part]
    return loc, cut


def _parent(event: Any, path: Path) -> Any:
    node = event
    for part in path[:-1]:
        node = node[part]
    return node


class _SetAside:
    """The values of one event that fail their type, taken out so that the rest validates: {path: (value
    as received, warnings)}. A time converted from ISO-8601 is here too, with no warning: its original."""

    def __init__(self) -> None:
        self.values: dict[Path, tuple[Any, list[dict[str, str]]]] = {}

    def take(self, work: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
        """Set aside what `errors` are about; False when there is nothing in `work` to take."""
        located = [(err, *_reach(work, tuple(err["loc"]))) for err in errors]  # before anything moves
        taken = False
        for err, reach, cut in located:
            if not cut:
                continue
            parent = _parent(work, cut)
            if err["type"] == ISO_TIME and reach == cut == tuple(err["loc"]):
                self.values.setdefault(cut, (parent[cut[-1]], []))
                parent[cut[-1]] = err["ctx"]["epoch"]
                taken = True
                continue
            warning = {"field": dotted(reach), "message": err["msg"]}
            if cut[-1] not in parent:  # taken already: another error of the same value
                warnings = self.values[cut][1]
                if all(w["field"] != warning["field"] for w in warnings):
                    warnings.append(warning)
                continue
            value, warnings = parent.pop(cut[-1]), [warning]
            if cut in self.values:  # a converted time that fails as epoch seconds too: keep what came
                value = self.values[cut][0]
            # What was taken from inside this value goes back: the value is kept whole, as received.
            inner = sorted(
                (p for p in self.values if p[: len(cut)] == cut and p != cut), key=len, reverse=True
            )
            for path in inner:
                raw, inner_warnings = self.values.pop(path)
                _parent({cut[-1]: value}, path[len(cut) - 1 :])[path[-1]] = raw
                warnings.extend(inner_warnings)
            self.values[cut] = (value, warnings)
            taken = True
        return taken


def _validate(model: type[BaseModel], event: dict[str, Any]) -> tuple[BaseModel, _SetAside]:
    """The model of `event` once every value that fails its type is set aside."""
    work = event
    aside = _SetAside()
    for _ in range(_MAX_PASSES):
        try:
            return model.model_validate(work), aside
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if work is event:
            work = copy.deepcopy(event)  # the received event stays as it came (it may be dead-lettered)
        if not aside.take(work, errors):
            break
    raise ValueError(f"cannot set aside what fails in this event: {errors[:3]}")


def _usable(value: Any, failed: bool, need: Need) -> bool:
    if value is None or value == "":
        return False
    if not failed:
        return True
    # An identity is only compared: a name of the wrong form still names its thing; a number or a list
    # does not (keys and table keys are strings).
    return need.identity and isinstance(value, str)


def _unmet(need: Need, out: Mapping[str, Any], failed: Mapping[str, str]) -> dict[str, Any] | None:
    """The error of an unmet need, naming the field; None when one of its fields is usable."""
    if any(_usable(out.get(f), f in failed, need) for f in need.fields):
        return None
    bad = next((f for f in need.fields if f in failed), None)
    if bad is not None:
        return {"field": bad, "message": f"{failed[bad]}; needed: {need.why}", "type": "needed"}
    return {"field": need.fields[0], "message": f"missing {need.describe()}: {need.why}", "type": "missing"}


def check_event(topic: MistTopic, event: dict[str, Any]) -> Checked | list[dict[str, Any]]:
    """Validate one event of `topic`: the normalised event with its warnings, or the errors that refuse it.

    Values that fail their type are kept as received (and warned about); needed values must be usable
    (an identity of the wrong form is: it is used as received)."""
    parsed, aside = _validate(topic.model, event)
    out = parsed.model_dump(mode="json", exclude_unset=True)
    warnings: list[dict[str, str]] = []
    original: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for path, (value, errors) in aside.values.items():
        if not errors:  # a coerced time: the model has its epoch seconds
            original[dotted(path)] = value
            continue
        _parent(out, path)[path[-1]] = value
        warnings.extend(errors)
        if len(path) == 1:
            failed[path[0]] = errors[0]["message"]
    refused = [e for need in topic.needs if (e := _unmet(need, out, failed)) is not None]
    if refused:
        return refused
    for warning in warnings:
        if warning["field"] in failed and _is_identity(topic, warning["field"]):
            warning["message"] += "; used as received"
    return Checked(out, warnings, original)


def _is_identity(topic: MistTopic, name: str) -> bool:
    return any(need.identity and name in need.fields for need in topic.needs)


def validated_view(mist_topic: str, record: dict[str, Any], warnings: list[dict[str, str]]) -> dict[str, Any]:
    """`record` without the values kept as received because they failed their type (what `warnings` name),
    except the identities in use (strings): what enrichment and aggregates may compute with. `record` itself
    is not changed."""
    topic = lookup(mist_topic)

    def in_use(name: str) -> bool:
        return topic is not None and _is_identity(topic, name) and isinstance(record.get(name), str)

    drop = [w["field"] for w in warnings if w["field"] and not in_use(w["field"])]
    if not drop:
        return record
    view = copy.deepcopy(record)
    for name in drop:
        loc: Path = tuple(int(p) if p.isdigit() else p for p in name.split("."))
        _, cut = _reach(view, loc)
        if cut:
            _parent(view, cut).pop(cut[-1], None)
    return view


# -- bodies ------------------------------------------------------------------------------------------------


def _body_error(message: str) -> list[dict[str, Any]]:
    return [{"field": None, "message": message, "type": "body"}]


def _body_text(raw: bytes, limit: int = 64 * 1024) -> str:
    return raw[:limit].decode("utf-8", errors="replace")


def _key(topic: MistTopic, event: Mapping[str, Any]) -> str | None:
    """The record key of a valid event (topics.keys.entity_key, without its lookup)."""
    for name in topic.key_fields:
        value = event.get(name)
        if value and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    return None


def _meets(topic: MistTopic, event: Mapping[str, Any]) -> bool:
    """Whether a valid event has what its topic needs (the common case: no value set aside)."""
    for need in topic.needs:
        for name in need.fields:
            value = event.get(name)
            if value is not None and value != "":
                break
        else:
            return False
    return True


_LISTS: dict[str, TypeAdapter] = {}


def _list_of(topic: MistTopic) -> TypeAdapter:
    adapter = _LISTS.get(topic.name)
    if adapter is None:
        adapter = _LISTS[topic.name] = TypeAdapter(list[topic.model])
    return adapter


def _valid_events(topic: MistTopic, events: list[Any]) -> list[dict[str, Any]] | None:
    """Every event of a body, validated and dumped in two pydantic calls; None when one of them fails (then
    each is validated alone)."""
    adapter = _list_of(topic)
    try:
        return adapter.dump_python(adapter.validate_python(events), mode="json", exclude_unset=True)
    except ValidationError:
        return None


def _event(
    topic: MistTopic, index: int, event: dict[str, Any], checked: Checked | None = None
) -> ParsedEvent:
    name = topic.name
    print_ = fingerprint(name, event)
    if checked is None or not checked.warnings:
        key = _key(topic, event)
    else:  # keyed by what is valid: an id kept as received only where it is the identity in use
        key = _key(topic, validated_view(name, event, checked.warnings))
    ts = event.get("timestamp")
    if ts is None or type(ts) not in (int, float):
        ts = event_time(event)
    parsed = ParsedEvent(name, event, key or print_, ts, print_, index)
    if checked is not None:
        parsed.warnings, parsed.original = checked.warnings, checked.original
    return parsed


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
    events = body["events"]
    valid = _valid_events(topic, events) if all(type(e) is dict for e in events) else None
    for index, event in enumerate(events):
        if valid is not None and _meets(topic, valid[index]):
            result.events.append(_event(topic, index, valid[index]))
            continue
        if not isinstance(event, dict):
            error = [{"field": None, "message": "an event must be a JSON object", "type": "event"}]
            result.dead.append(DeadLetter(topic.name, error, event=event, index=index))
            continue
        checked = check_event(topic, event)
        if isinstance(checked, list):
            result.dead.append(DeadLetter(topic.name, checked, event=event, index=index))
            continue
        result.events.append(_event(topic, index, checked.event, checked))
    return result
