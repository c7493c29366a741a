"""The catalogue of Mist webhook topics: what each is, its event model, what its records are keyed by."""

from __future__ import annotations

from dataclasses import dataclass

from topics import models as m

# Keys of the enriched records: the entity the topic's aggregation groups on (see keys.entity_key).
_BY_CLIENT = ("mac", "id")  # a client / asset MAC; SDK clients have no MAC, only their SDK id
_BY_MAC = ("mac",)  # location topics of MAC-bearing clients / tags only
_BY_BEACON = ("mac",)  # the beacon / client heard, so RSSI windows of one emitter stay on one partition
_BY_DEVICE = ("mac", "ap")  # the device MAC; `ap` is the deprecated AP-only spelling
_BY_SITE = ("site_id", "org_id")  # no entity to group on: keep a site's events in order; org-level → org


@dataclass(frozen=True, slots=True)
class Need:
    """A value an event of a topic cannot do without: one of ``fields`` (alternatives, tried in order).

    ``identity``: the value names something (a client, a zone, an AP) and is only compared, never computed
    with, so a value that fails its type (``"mac4"`` where a MAC belongs) still does its work, as received.
    ``why`` is what the pipeline does with it: the reason given when it is missing.
    """

    fields: tuple[str, ...]
    why: str
    identity: bool = False

    def describe(self) -> str:
        return " or ".join(f"`{f}`" for f in self.fields)


@dataclass(frozen=True, slots=True)
class MistTopic:
    """One Mist webhook topic.

    ``site_level``: Mist only sends it from site webhooks, so every event of a body belongs to one site.
    Infrastructure topics can come from org webhooks too, where one body mixes events of several sites.
    ``key_fields``: event attributes tried in order; the first one set is the record key.
    ``needs``: what the topic's aggregates cannot do without; an event that lacks one is dead-lettered.
    Every other field is optional; one that does not fit its type is kept as received, with a warning.
    """

    name: str
    model: type[m.MistEvent]
    description: str
    site_level: bool
    key_fields: tuple[str, ...]
    needs: tuple[Need, ...] = ()


# What the aggregates cannot do without (pipeline.aggregate), per family of topics.
_LOCATED = Need(("mac", "id"), "the client, asset or SDK client located: the key of its last location", True)
_LOCATED_MAC = Need(("mac",), "the client or tag located: the key of its last location", True)
_LOCATED_SDK = Need(("id",), "the SDK client located: the key of its last location", True)
_POSITION = (
    Need(("x",), "where it is, x in meters: the position of its last location"),
    Need(("y",), "where it is, y in meters: the position of its last location"),
)
_ZONE_TIME = Need(("timestamp",), "when: visits and dwell times are measured in event time")
_ZONE = (
    Need(("zone_id",), "the zone entered or left: the key of its occupancy and visits", True),
    Need(("mac", "id", "asset_id"), "who entered or left: the member of the zone", True),
    Need(("trigger",), "enter or exit: what happened"),
    _ZONE_TIME,
)
_RSSIZONE = (
    Need(("rssizone_id",), "the RSSI zone entered or left: the key of its occupancy and visits", True),
    Need(("mac",), "who entered or left: the member of the RSSI zone", True),
    Need(("trigger",), "enter or exit: what happened"),
    _ZONE_TIME,
)
_RSSI = (
    Need(("mac",), "the beacon heard: the key of its RSSI windows", True),
    Need(("device_id", "ap"), "the AP that heard it: one RSSI statistic per AP", True),
    Need(("rssi",), "the signal strength: what the RSSI windows aggregate"),
)
_DEVICE = (
    Need(("mac", "ap"), "the device: the key of its up/down status", True),
    Need(("timestamp",), "when: the newest event by event time sets the status"),
)


def normalise_topic(name: str) -> str:
    """Mist spells some topics with `_` and some with `-` (`location_asset`): one spelling, `-`."""
    return name.strip().lower().replace("_", "-")


_TOPICS = (
    # The thirteen topics the project was specified from.
    MistTopic("alarms", m.AlarmEvent, "alarms raised or updated", False, _BY_SITE),
    MistTopic(
        "asset-raw",
        m.AssetRawEvent,
        "named asset's raw BLE RSSI per AP (deprecated)",
        True,
        _BY_BEACON,
        _RSSI,
    ),
    MistTopic("audits", m.AuditEvent, "configuration changes by admins", False, _BY_SITE),
    MistTopic("client-join", m.ClientJoinEvent, "Wi-Fi client associations", False, _BY_SITE),
    MistTopic(
        "client-sessions", m.ClientSessionsEvent, "Wi-Fi client sessions ended or roamed", False, _BY_SITE
    ),
    MistTopic(
        "device-events",
        m.DeviceEventsEvent,
        "AP, switch and gateway events",
        False,
        _BY_DEVICE,
        _DEVICE,
    ),
    MistTopic(
        "device-updowns",
        m.DeviceUpdownsEvent,
        "devices connecting / disconnecting",
        False,
        _BY_DEVICE,
        _DEVICE,
    ),
    MistTopic(
        "discovered-raw-rssi",
        m.DiscoveredRawRssiEvent,
        "BLE beacons' raw RSSI per AP",
        True,
        _BY_BEACON,
        _RSSI,
    ),
    MistTopic(
        "location",
        m.LocationEvent,
        "client, asset and SDK client positions",
        True,
        _BY_CLIENT,
        (_LOCATED, *_POSITION),
    ),
    # occupancy-alerts holds several zones' alerts per event: the site is the one entity of an event.
    MistTopic("occupancy-alerts", m.OccupancyAlertsEvent, "zone occupancy compliance", False, ("site_id",)),
    # ping carries no org_id.
    MistTopic("ping", m.PingEvent, "webhook test", False, ("site_id",)),
    # sdkclient-scan-data: the SDK client's MAC, the one whose scan it is.
    MistTopic(
        "sdkclient-scan-data",
        m.SdkclientScanDataEvent,
        "SDK clients' Wi-Fi scans",
        True,
        ("mac",),
        (Need(("mac",), "the SDK client that scanned: the key of its RSSI windows", True),),
    ),
    # zone: visits are counted per zone, so the zone id (not the client) is the key.
    MistTopic("zone", m.ZoneEvent, "zone enter / exit", True, ("zone_id",), _ZONE),
    # Other topics with samples.
    MistTopic("asset-raw-rssi", m.AssetRawRssiEvent, "assets' raw BLE RSSI per AP", True, _BY_BEACON, _RSSI),
    MistTopic("client-info", m.ClientInfoEvent, "Wi-Fi clients' hostname and IP", False, _BY_SITE),
    MistTopic(
        "location-asset",
        m.LocationAssetEvent,
        "BLE asset positions",
        True,
        _BY_MAC,
        (_LOCATED_MAC, *_POSITION),
    ),
    MistTopic(
        "location-centrak",
        m.LocationCentrakEvent,
        "CenTrak tag positions",
        True,
        _BY_MAC,
        (_LOCATED_MAC, *_POSITION),
    ),
    MistTopic(
        "location-client",
        m.LocationClientEvent,
        "connected Wi-Fi client positions",
        True,
        _BY_MAC,
        (_LOCATED_MAC, *_POSITION),
    ),
    MistTopic(
        "location-sdk", m.LocationSdkEvent, "SDK client positions", True, ("id",), (_LOCATED_SDK, *_POSITION)
    ),
    MistTopic(
        "location-unclient",
        m.LocationUnclientEvent,
        "unconnected Wi-Fi client positions",
        True,
        _BY_MAC,
        (_LOCATED_MAC, *_POSITION),
    ),
    MistTopic(
        "rssizone",
        m.RssizoneEvent,
        "RSSI zone enter / exit",
        True,
        ("rssizone_id",),
        _RSSIZONE,
    ),
    MistTopic("site-sle", m.SiteSleEvent, "site SLE scores", False, _BY_SITE),
    # wifi-*-raw: the Wi-Fi client heard (client_id), the Wi-Fi counterpart of a beacon's RSSI.
    MistTopic(
        "wifi-conn-raw",
        m.WifiConnRawEvent,
        "connected Wi-Fi clients' raw RSSI",
        True,
        ("client_id",),
    ),
    MistTopic(
        "wifi-unconn-raw",
        m.WifiUnconnRawEvent,
        "unconnected Wi-Fi clients' raw RSSI",
        True,
        ("client_id",),
    ),
    # Topics without samples.
    MistTopic("client-latency", m.ClientLatencyEvent, "site auth / DHCP / DNS latency", False, _BY_SITE),
    MistTopic(
        "guest-authorizations", m.GuestAuthorizationsEvent, "guest portal authorizations", False, _BY_SITE
    ),
    MistTopic("mxedge-events", m.MxedgeEventsEvent, "Mist Edge events", False, _BY_SITE),
    MistTopic("nac-accounting", m.NacAccountingEvent, "NAC RADIUS accounting", False, _BY_SITE),
    MistTopic("nac-events", m.NacEventsEvent, "NAC authentication events", False, _BY_SITE),
    MistTopic("vbeacon", m.VbeaconEvent, "virtual beacon events", True, _BY_SITE),
    # Marvis Minis (topics newer than the spec the project started from).
    MistTopic(
        "minis-application", m.MinisApplicationEvent, "Marvis Minis application probes", False, _BY_SITE
    ),
    MistTopic(
        "minis-reachability", m.MinisReachabilityEvent, "Marvis Minis reachability probes", False, _BY_SITE
    ),
)

# Mist topic name (normalised) → topic. Insertion order is the order above, which all_topics() keeps.
CATALOGUE: dict[str, MistTopic] = {topic.name: topic for topic in _TOPICS}

# The thirteen topics of the spec the project was built from.
SPEC_TOPICS: frozenset[str] = frozenset(
    (
        "alarms",
        "asset-raw",
        "audits",
        "client-join",
        "client-sessions",
        "device-events",
        "device-updowns",
        "discovered-raw-rssi",
        "location",
        "occupancy-alerts",
        "ping",
        "sdkclient-scan-data",
        "zone",
    )
)


def lookup(name: str) -> MistTopic | None:
    """The topic of a Mist topic name in any of Mist's spellings, or None if it is not in the catalogue."""
    return CATALOGUE.get(normalise_topic(name))


def model_for(mist_topic: str) -> type[m.MistEvent]:
    """The event model of a catalogued topic; KeyError for one that is not (it belongs on unrouted)."""
    topic = lookup(mist_topic)
    if topic is None:
        raise KeyError(f"not a catalogued Mist topic: {mist_topic!r}")
    return topic.model
