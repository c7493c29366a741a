"""Shape, topic and key of a webhook body, as plain functions."""

import pytest

from ingest.routing import ShapeError, kafka_topic, parse, record_key
from topics.catalogue import CATALOGUE


def test_parse_a_body():
    hook = parse(b'{"topic": "location_asset", "events": [{"mac": "aa"}], "extra": 1}')
    assert hook.topic == "location_asset"  # as sent; normalised only to pick the Kafka topic
    assert hook.events == [{"mac": "aa"}]
    assert parse(b'{"topic": "ping", "events": []}').events == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"topic": "a\xff", "events": []}', "not JSON"),  # invalid UTF-8
        (b"[" * 2000, "not JSON"),  # deeper than the parser goes
        (b"NaN", "not JSON"),
        (b"null", "JSON object, not null"),
        (b"[1]", "JSON object, not a list"),
        (b"3", "JSON object, not a number"),
        (b'{"events": []}', '"topic" is missing'),
        (b'{"topic": "ping"}', '"events" is missing'),
        (b'{"topic": false, "events": []}', '"topic" must be a string, not a boolean'),
        (b'{"topic": " ", "events": []}', '"topic" must not be empty'),
        (b'{"topic": "ping", "events": null}', '"events" must be a list, not null'),
        (b'{"topic": "ping", "events": [{}, "x"]}', '"events"[1] must be an object, not a string'),
    ],
)
def test_shape_errors_name_what_is_wrong(body, reason):
    with pytest.raises(ShapeError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse(body)


def test_kafka_topic():
    assert kafka_topic("location", "mist.") == "mist.location"
    assert kafka_topic("location_asset", "mist.") == "mist.location-asset"
    assert kafka_topic(" Location-Asset ", "p.") == "p.location-asset"
    for name in CATALOGUE:
        assert kafka_topic(name, "mist.") == f"mist.{name}"
    # Never a topic made from outside input.
    for other in ("unknown", "../etc", "location.enriched", "ref.sites", "deadletter", "x" * 300, "ü"):
        assert kafka_topic(other, "mist.") == "mist.unrouted"


def test_record_key():
    org, other_org = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61", "o2"
    assert record_key([{"site_id": "s1", "org_id": org}, {"site_id": "s1"}]) == b'"s1"'
    assert (
        record_key([{"site_id": "s1", "org_id": org}, {"site_id": "s2", "org_id": org}])
        == b'"%s"' % org.encode()
    )
    assert record_key([{"org_id": org}, {"org_id": org}]) == f'"{org}"'.encode()  # org-level events
    assert record_key([{"site_id": "s1", "org_id": org}, {"site_id": "s2", "org_id": other_org}]) is None
    assert record_key([{"site_id": "s1"}, {"org_id": org}]) is None  # neither shared by every event
    assert record_key([]) is None
    assert record_key([{"mac": "aa"}]) is None
    assert record_key([{"site_id": 7}]) is None  # ids are strings; anything else is no key
    assert record_key([{"siteid": "s1"}, {"site_id": "s1"}]) == b'"s1"'  # older wifi-*-raw spelling
    assert record_key([{"site_id": 'quo"te'}]) == b'"quo\\"te"'  # JSON string bytes, as Faust's tables hash
