import orjson
import pytest
from pydantic import ValidationError
from support import MIST_SAMPLES

from topics.catalogue import CATALOGUE, model_for
from topics.models import (
    AuditEvent,
    ClientSessionsEvent,
    ClientType,
    DeviceEventsEvent,
    DeviceType,
    DeviceUpdownsEvent,
    EvType,
    LocationEvent,
    MxedgeEventsEvent,
    OccupancyAlertsEvent,
    OccupancyAlertType,
    ScanBand,
    SdkclientScanDataEvent,
    TerminationReason,
    WebhookBody,
    WifiConnRawEvent,
    WifiUnconnRawEvent,
    ZoneEvent,
    ZoneTrigger,
)
from topics.serde import dumps, loads

SAMPLES = MIST_SAMPLES  # one sample webhook body per Mist topic


def sample_body(topic: str) -> dict:
    return orjson.loads((SAMPLES / f"{topic}.json").read_bytes())


SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))


ORG = "a97c1b22-a4e9-411e-9bfd-d8695a0f9e61"
SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"
ZONE = "8ac84899-32db-6327-334c-9b6d58544cfe"

# Properties of each webhook event schema in Mist's OpenAPI spec (mist_openapi src/spec/components/schemas/
# webhook_*_event.yml): every one must be a declared field of the model.
SPEC_FIELDS = {
    "alarms": (
        "aps bssids count event_id for_site id last_seen node org_id site_id ssids timestamp type update"
    ),
    "asset-raw": (
        "asset_id beam device_id ibeacon_major ibeacon_minor ibeacon_uuid mac map_id "
        "mfg_company_id mfg_data rssi service_data_data service_data_last_rx_time "
        "service_data_rx_cnt service_data_uuid service_packets site_id timestamp"
    ),
    "audits": "admin_name device_id id message org_id site_id src_ip timestamp",
    "client-join": (
        "ap ap_name band bssid connect connect_float mac org_id rssi site_id site_name "
        "ssid timestamp version wlan_id"
    ),
    "client-sessions": (
        "ap ap_name band bssid client_family client_manufacture client_model client_os "
        "connect connect_float disconnect disconnect_float duration mac next_ap org_id "
        "rssi site_id site_name ssid termination_reason timestamp version wlan_id"
    ),
    "device-events": (
        "ap ap_name audit_id device_name device_type ev_type mac org_id reason site_id "
        "site_name text timestamp type"
    ),
    "device-updowns": "ap ap_name for_site org_id site_id site_name timestamp type",
    "discovered-raw-rssi": (
        "ap_loc beam device_id ibeacon_major ibeacon_minor ibeacon_uuid is_asset mac "
        "map_id mfg_company_id mfg_data org_id rssi service_packets site_id timestamp"
    ),
    "location": (
        "battery_voltage eddystone_uid_instance eddystone_uid_namespace eddystone_url_url "
        "ibeacon_major ibeacon_minor ibeacon_uuid id mac map_id mfg_company_id mfg_data "
        "name site_id timestamp type wifi_beacon_extended_info x y"
    ),
    "occupancy-alerts": "alert_events for_site site_id site_name",
    "ping": "id name site_id timestamp",
    "sdkclient-scan-data": (
        "connection_ap connection_band connection_bssid connection_channel "
        "connection_rssi last_seen mac scan_data site_id"
    ),
    "zone": "asset_id id mac map_id name site_id timestamp trigger type zone_id",
}


def test_spec_fields_are_declared():
    for topic, fields in SPEC_FIELDS.items():
        missing = set(fields.split()) - set(model_for(topic).model_fields)
        assert not missing, (topic, missing)


def test_every_sample_has_a_test():
    assert len(SAMPLE_FILES) == 24
    assert {p.stem for p in SAMPLE_FILES} <= set(CATALOGUE)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[p.stem for p in SAMPLE_FILES])
def test_sample_parses(path):
    body = WebhookBody.model_validate_json(path.read_bytes())
    assert body.topic == path.stem
    model = model_for(body.topic)
    assert body.events
    for raw in body.events:
        event = model.model_validate(raw)
        # Nothing of the payload is lost: declared fields and extras together hold every key Mist sent.
        assert set(raw) <= set(type(event).model_fields) | set(event.model_extra) | {"mapid", "siteid"}
        # And what goes on the wire parses back to the same event.
        assert model.model_validate(loads(dumps(event))) == event


def _event(topic: str, index: int = 0, **changes) -> dict:
    return sample_body(topic)["events"][index] | changes


def _error_locs(excinfo) -> list[tuple]:
    return [e["loc"] for e in excinfo.value.errors()]


# --- invalid events name the field ---


def test_location_x_not_a_number():
    with pytest.raises(ValidationError) as excinfo:
        LocationEvent.model_validate(_event("location", x="far"))
    assert _error_locs(excinfo) == [("x",)]


def test_zone_trigger_not_enter_or_exit():
    with pytest.raises(ValidationError) as excinfo:
        ZoneEvent.model_validate(_event("zone", trigger="sideways"))
    assert _error_locs(excinfo) == [("trigger",)]
    assert "'enter' or 'exit'" in str(excinfo.value)


@pytest.mark.parametrize(
    "mac",
    [
        "7fc2936fd24",  # 11 digits
        "7fc2936fd2431",  # 13 digits
        "7fc2936fd24g",  # not hex
        "7f:c2:93:6f:d2",  # 5 groups
        "7f:c2-93:6f:d2:43",  # mixed separators
        "7fc29.36fd.243",  # dots in the wrong places
        "7f c2 93 6f d2 43",
        "",
        0x7FC2936FD243,  # a number is not a MAC
    ],
)
def test_malformed_mac(mac):
    with pytest.raises(ValidationError) as excinfo:
        LocationEvent.model_validate(_event("location", 1, mac=mac))
    assert _error_locs(excinfo) == [("mac",)]
    assert "not a MAC address" in str(excinfo.value)


def test_malformed_mac_in_a_list_names_the_item():
    with pytest.raises(ValidationError) as excinfo:
        model_for("alarms").model_validate(_event("alarms", aps=["5c5b350e55c8", "bogus"]))
    assert _error_locs(excinfo) == [("aps", 1)]


def test_no_field_is_required_by_the_model():
    # What an event cannot do without is the catalogue's (MistTopic.needs), checked by pipeline.parse.
    event = _event("location")
    del event["map_id"], event["x"]
    assert "x" not in LocationEvent.model_validate(event).model_dump(exclude_unset=True)


@pytest.mark.parametrize(
    ("topic", "change", "loc"),
    [
        ("device-events", {"device_type": "router"}, ("device_type",)),
        ("device-events", {"ev_type": "panic"}, ("ev_type",)),
        ("client-sessions", {"termination_reason": 4}, ("termination_reason",)),
        ("occupancy-alerts", {"alert_events": [{"type": "COMPLIANCE-MAYBE"}]}, ("alert_events", 0, "type")),
        ("zone", {"type": "bluetooth"}, ("type",)),
        ("rssizone", {"trigger": "stay"}, ("trigger",)),
        ("location", {"timestamp": "yesterday"}, ("timestamp",)),
        ("location", {"timestamp": -1}, ("timestamp",)),
        ("location", {"timestamp": "nan"}, ("timestamp",)),
        ("discovered-raw-rssi", {"beam": 3.5}, ("beam",)),
    ],
)
def test_invalid_value_names_the_field(topic, change, loc):
    with pytest.raises(ValidationError) as excinfo:
        model_for(topic).model_validate(_event(topic, **change))
    assert loc in _error_locs(excinfo)


def test_sdk_scan_band_outside_the_spec():
    event = _event("sdkclient-scan-data")
    event["scan_data"][0]["band"] = "6"
    with pytest.raises(ValidationError) as excinfo:
        SdkclientScanDataEvent.model_validate(event)
    assert _error_locs(excinfo) == [("scan_data", 0, "band")]


def test_webhook_body_shape():
    with pytest.raises(ValidationError):
        WebhookBody.model_validate({"topic": "zone"})
    with pytest.raises(ValidationError):
        WebhookBody.model_validate({"topic": "zone", "events": {"a": 1}})
    assert WebhookBody.model_validate_json(b'{"topic": "zone", "events": [{}]}').events == [{}]


# --- tolerance ---


def test_uppercase_enums():
    event = DeviceEventsEvent.model_validate(_event("device-events", ev_type="NOTICE", device_type="AP"))
    assert event.ev_type is EvType.NOTICE and event.ev_type == "notice"
    assert event.device_type is DeviceType.AP
    zone = ZoneEvent.model_validate(_event("zone", trigger="Enter", type="WIFI"))
    assert (zone.trigger, zone.type) == (ZoneTrigger.ENTER, ClientType.WIFI)


def test_enum_keeps_mists_canonical_spelling():
    alerts = OccupancyAlertsEvent.model_validate(sample_body("occupancy-alerts")["events"][0])
    assert alerts.alert_events[0].type is OccupancyAlertType.COMPLIANCE_VIOLATION
    body = _event("occupancy-alerts")
    body["alert_events"][0]["type"] = "compliance-ok"
    alert = OccupancyAlertsEvent.model_validate(body).alert_events[0]
    assert alert.type is OccupancyAlertType.COMPLIANCE_OK
    assert loads(dumps(alert))["type"] == "COMPLIANCE-OK"


def test_band_as_number():
    event = _event("sdkclient-scan-data")
    event["scan_data"][0]["band"] = 2.4
    event["scan_data"][1]["band"] = 5
    bands = [item.band for item in SdkclientScanDataEvent.model_validate(event).scan_data]
    assert bands == [ScanBand.BAND_24, ScanBand.BAND_5]


def test_missing_device_id_and_ev_type():
    audit = AuditEvent.model_validate(sample_body("audits")["events"][0])
    assert "device_id" not in sample_body("audits")["events"][0] and audit.device_id is None
    switch = DeviceEventsEvent.model_validate(sample_body("device-events")["events"][3])
    assert switch.ev_type is None and switch.device_type is DeviceType.SWITCH


def test_extra_fields_are_kept():
    event = LocationEvent.model_validate(_event("location", rssi=-70, battery_level=0.8))
    assert event.model_extra == {"rssi": -70, "battery_level": 0.8}
    assert event.rssi == -70
    assert loads(dumps(event))["rssi"] == -70


def test_int_accepted_for_float():
    event = LocationEvent.model_validate(_event("location", x=13, y=3))
    assert (event.x, event.y) == (13.0, 3.0) and isinstance(event.x, float)


@pytest.mark.parametrize("ts", [1749106728, 1749106728.5, "1749106728.5", "1749106728"])
def test_timestamp_int_float_or_numeric_string(ts):
    event = LocationEvent.model_validate(_event("location", timestamp=ts))
    assert isinstance(event.timestamp, float) and event.timestamp == float(ts)


def test_mxedge_string_timestamp():
    # Mist's own example of an mxedge-events body sends the timestamp as a string.
    event = MxedgeEventsEvent.model_validate({"org_id": ORG, "timestamp": "1763546876.209649", "type": "X"})
    assert event.timestamp == 1763546876.209649


@pytest.mark.parametrize(
    "mac", ["7fc2936fd243", "7FC2936FD243", "7F:C2:93:6F:D2:43", "7f-c2-93-6f-d2-43", "7fc2.936f.d243"]
)
def test_mac_spellings(mac):
    assert LocationEvent.model_validate(_event("location", mac=mac)).mac == "7fc2936fd243"


def test_wifi_raw_macs_and_old_spellings():
    event = WifiConnRawEvent.model_validate(sample_body("wifi-conn-raw")["events"][0])
    assert (event.ap_id, event.client_id) == ("5c5b350e55c8", "28f0762d221e")
    old = _event("wifi-conn-raw")
    old["mapid"], old["siteid"] = old.pop("map_id"), old.pop("site_id")
    for model in (WifiConnRawEvent, WifiUnconnRawEvent):
        event = model.model_validate(old)
        assert (event.map_id, event.site_id) == (MAP, SITE)
        assert event.model_extra == {}
        assert loads(dumps(event))["map_id"] == MAP  # written back in today's spelling
    # populate_by_name: the field name works as a keyword too
    assert WifiConnRawEvent(ap_id="5c5b350e55c8", client_id="28f0762d221e", map_id=MAP).map_id == MAP


def test_next_ap_only_when_roamed():
    session = _event("client-sessions", termination_reason=1, next_ap="")
    event = ClientSessionsEvent.model_validate(session)
    assert event.next_ap is None and event.termination_reason is TerminationReason.DISASSOCIATE
    del session["next_ap"]
    assert ClientSessionsEvent.model_validate(session).next_ap is None
    roamed = ClientSessionsEvent.model_validate(sample_body("client-sessions")["events"][0])
    assert roamed.termination_reason is TerminationReason.ROAMED and roamed.next_ap == "5c5b35513227"


def test_zone_events_carry_their_client_identity():
    sdk, wifi, asset, _ = (ZoneEvent.model_validate(e) for e in sample_body("zone")["events"])
    assert (sdk.type, sdk.id, sdk.mac) == (ClientType.SDK, "de87bf9d-183f-e383-cc68-6ba43947d403", None)
    assert (wifi.type, wifi.mac, wifi.id) == (ClientType.WIFI, "5684dae9ac8b", None)
    assert (asset.type, asset.asset_id) == (ClientType.ASSET, "c180b858-8f39-11e7-a7a5-346895ed1b7d")
    assert sdk.zone_id == ZONE


def test_switch_updown_without_ap():
    event = DeviceUpdownsEvent.model_validate(
        {
            "device_name": "IDF1-SW1",
            "device_type": "switch",
            "mac": "50:C7:09:1A:2B:3C",
            "org_id": ORG,
            "site_id": SITE,
            "site_name": "Mist Office",
            "timestamp": 1749106728,
            "type": "SW_DISCONNECTED",
        }
    )
    assert event.ap is None and event.mac == "50c7091a2b3c"


def test_mfg_company_id_string_on_discovered_raw_rssi_int_elsewhere():
    drr = model_for("discovered-raw-rssi").model_validate(sample_body("discovered-raw-rssi")["events"][0])
    assert drr.mfg_company_id == "004c"
    assert model_for("discovered-raw-rssi").model_validate(_event("discovered-raw-rssi", mfg_company_id=76))
    assert model_for("asset-raw").model_validate(sample_body("asset-raw")["events"][0]).mfg_company_id == 935


def test_models_allow_extra_fields():
    for topic in CATALOGUE.values():
        assert topic.model.model_config["extra"] == "allow"
        assert topic.model.model_config["populate_by_name"] is True
