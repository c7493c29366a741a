import orjson
import pytest
from faust.serializers import codecs
from support import MIST_SAMPLES

from topics.models import LocationEvent, OccupancyAlertsEvent
from topics.serde import decode_key, dumps, encode_key, loads

SAMPLES = MIST_SAMPLES  # one sample webhook body per Mist topic


def sample_body(topic: str) -> dict:
    return orjson.loads((SAMPLES / f"{topic}.json").read_bytes())


def test_key_is_json_string():
    assert encode_key("abc") == b'"abc"'
    assert decode_key(b'"abc"') == "abc"
    assert encode_key(None) is None and decode_key(None) is None


@pytest.mark.parametrize(
    "key", ["7fc2936fd243", "8ac84899-32db-6327-334c-9b6d58544cfe", "", 'quo"te', "Bâtiment-é", "\x00"]
)
def test_key_bytes_match_faust_json_key_serializer(key):
    # Faust's table_route hashes exactly these bytes to find the partition that owns the key.
    assert encode_key(key) == codecs.dumps("json", key)
    assert decode_key(encode_key(key)) == key


def test_value_round_trip():
    value = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    assert loads(dumps(value)) == value
    assert loads(dumps(value).decode()) == value


def test_non_str_dict_keys():
    assert loads(dumps({1: "x", 2.5: "y"})) == {"1": "x", "2.5": "y"}


def test_model_value_includes_extras_and_enum_values():
    event = LocationEvent.model_validate(sample_body("location")["events"][0] | {"rssi": -70})
    data = loads(dumps(event))
    assert data["rssi"] == -70 and data["mac"] == "7fc2936fd243" and data["timestamp"] == 1749106728.0
    alerts = OccupancyAlertsEvent.model_validate(sample_body("occupancy-alerts")["events"][0])
    assert loads(dumps({"event": alerts}))["event"]["alert_events"][0]["type"] == "COMPLIANCE-VIOLATION"


def test_unserialisable_value():
    with pytest.raises(TypeError):
        dumps(object())
