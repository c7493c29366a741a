import orjson
import pytest
from support import MIST_SAMPLES

from topics.catalogue import CATALOGUE, model_for
from topics.keys import entity_key
from topics.models import AlarmEvent, DeviceUpdownsEvent, VbeaconEvent

SAMPLES = MIST_SAMPLES  # one sample webhook body per Mist topic


def sample_body(topic: str) -> dict:
    return orjson.loads((SAMPLES / f"{topic}.json").read_bytes())


ORG = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
ZONE = "8ac84899-32db-6327-334c-9b6d58544cfe"
ASSET = "7fc2936fd243"
WIFI = "5684dae9ac8b"
SDK_ID = "de87bf9d-183f-e383-cc68-6ba43947d403"

# The key of each sample event, in order.
EXPECTED = {
    "alarms": [SITE],
    "asset-raw": [ASSET, ASSET],
    "asset-raw-rssi": [ASSET, ASSET],
    "audits": [SITE, SITE],
    "client-info": [SITE],
    "client-join": [SITE],
    "client-sessions": [SITE],
    "device-events": ["5c5b350e55c8"] * 3 + ["50c7091a2b3c"],
    "device-updowns": ["5c5b35513227"] * 2,  # APs: only `ap`
    "discovered-raw-rssi": ["ed2cc53f2770"] * 2,
    "location": [ASSET, WIFI, SDK_ID],  # the SDK client has no mac: its id
    "location-asset": [ASSET],
    "location-centrak": [WIFI],
    "location-client": [WIFI],
    "location-sdk": [SDK_ID],
    "location-unclient": ["d2a6f1c03b7e"],
    "occupancy-alerts": [SITE],
    "ping": [SITE],
    "rssizone": ["e38f8e76-40db-4144-9a1f-3c5d7e9b2a10"],
    "sdkclient-scan-data": ["70ef0071535f"],
    "site-sle": [SITE],
    "wifi-conn-raw": ["28f0762d221e"],  # normalised from 28-f0-76-2d-22-1e
    "wifi-unconn-raw": ["38f9d399086e"],
    "zone": [ZONE] * 4,
}


def test_every_sample_has_an_expected_key():
    assert set(EXPECTED) == {p.stem for p in SAMPLES.glob("*.json")}


@pytest.mark.parametrize("topic", sorted(EXPECTED))
def test_key_of_sample(topic):
    model = model_for(topic)
    keys = [entity_key(topic, model.model_validate(e)) for e in sample_body(topic)["events"]]
    assert keys == EXPECTED[topic]


def test_key_uses_any_spelling_of_the_topic():
    event = model_for("location-asset").model_validate(sample_body("location-asset")["events"][0])
    assert entity_key("location_asset", event) == ASSET


def test_device_mac_before_ap():
    base = {"org_id": ORG, "site_id": SITE, "site_name": "S", "timestamp": 1, "type": "SW_CONNECTED"}
    switch = DeviceUpdownsEvent.model_validate(base | {"mac": "50c7091a2b3c"})
    assert entity_key("device-updowns", switch) == "50c7091a2b3c"
    both = DeviceUpdownsEvent.model_validate(base | {"mac": "50c7091a2b3c", "ap": "5c5b35513227"})
    assert entity_key("device-updowns", both) == "50c7091a2b3c"


def test_org_level_event_falls_back_to_org():
    alarm = AlarmEvent.model_validate(
        {"id": "x", "last_seen": 1, "org_id": ORG, "timestamp": 1, "type": "t", "for_site": False}
    )
    assert entity_key("alarms", alarm) == ORG


def test_no_key_field_set_is_none():
    assert entity_key("vbeacon", VbeaconEvent()) is None


def test_unknown_topic_uses_site_then_org():
    assert entity_key("nope", VbeaconEvent(site_id=SITE, org_id=ORG)) == SITE
    assert entity_key("nope", VbeaconEvent(org_id=ORG)) == ORG


def test_every_catalogued_topic_has_a_key_rule():
    for topic in CATALOGUE.values():
        assert all(isinstance(f, str) and f for f in topic.key_fields)
