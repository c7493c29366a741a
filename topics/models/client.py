"""Wi-Fi client topics (join, sessions, info, latency, guest portal) and NAC (authentication, accounting)."""

from __future__ import annotations

from enum import IntEnum

from topics.models.common import Mac, MaybeMac, MistEvent, Number, Timestamp


class ClientJoinEvent(MistEvent):
    """``client-join`` (spec: webhook_client_join_event). ``band`` is an open string ("5", "24", ...)."""

    ap: Mac | None = None
    ap_name: str | None = None
    band: str | None = None
    bssid: Mac | None = None
    connect: Number | None = None
    connect_float: float | None = None
    mac: Mac | None = None
    org_id: str | None = None
    rssi: float | None = None
    site_id: str | None = None
    site_name: str | None = None
    ssid: str | None = None
    timestamp: Timestamp | None = None
    version: float | None = None
    wlan_id: str | None = None


class TerminationReason(IntEnum):
    """Spec: client-sessions ``termination_reason``."""

    DISASSOCIATE = 1  # the client disassociated
    INACTIVE = 2  # the client timed out
    ROAMED = 3  # the client roamed to another AP (next_ap)


class ClientSessionsEvent(MistEvent):
    """``client-sessions`` (spec: webhook_client_sessions_event): a session that ended or roamed.

    ``next_ap`` only means something when the client roamed: optional, and "" reads as absent.
    """

    ap: Mac | None = None
    ap_name: str | None = None
    band: str | None = None
    bssid: Mac | None = None
    client_family: str | None = None
    client_manufacture: str | None = None
    client_model: str | None = None
    client_os: str | None = None
    connect: Number | None = None
    connect_float: float | None = None
    disconnect: Number | None = None
    disconnect_float: float | None = None
    duration: Number | None = None
    mac: Mac | None = None
    next_ap: MaybeMac = None
    org_id: str | None = None
    rssi: float | None = None
    site_id: str | None = None
    site_name: str | None = None
    ssid: str | None = None
    termination_reason: TerminationReason | None = None
    timestamp: Timestamp | None = None
    version: float | None = None
    wlan_id: str | None = None


class ClientInfoEvent(MistEvent):
    """``client-info``: a client's hostname / IP as learnt by the APs."""

    hostname: str | None = None
    ip: str | None = None
    mac: Mac | None = None
    org_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class ClientLatencyEvent(MistEvent):
    """``client-latency`` (no sample): a site's auth/DHCP/DNS latency statistics, in seconds."""

    avg_auth: float | None = None
    avg_dhcp: float | None = None
    avg_dns: float | None = None
    max_auth: float | None = None
    max_dhcp: float | None = None
    max_dns: float | None = None
    min_auth: float | None = None
    min_dhcp: float | None = None
    min_dns: float | None = None
    org_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None


class GuestAuthorizationsEvent(MistEvent):
    """``guest-authorizations`` (no sample): a guest-portal authorization; ``client`` is the guest's MAC."""

    ap: Mac | None = None
    auth_method: str | None = None
    authorized_expiring_time: Timestamp | None = None
    authorized_time: Timestamp | None = None
    client: Mac | None = None
    org_id: str | None = None
    site_id: str | None = None
    ssid: str | None = None
    wlan_id: str | None = None


class NacEventsEvent(MistEvent):
    """``nac-events`` (no sample): a Mist Access Assurance authentication event (NAC_CLIENT_PERMIT, ...).

    Mist's examples send ``random_mac`` as "true" and ``vlan`` as "750": read as a bool and an int."""

    ap: Mac | None = None
    auth_type: str | None = None
    bssid: Mac | None = None
    device_mac: Mac | None = None
    mac: Mac | None = None
    nacrule_matched: bool | None = None
    org_id: str | None = None
    random_mac: bool | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None
    username: str | None = None
    vlan: int | None = None


class NacAccountingEvent(MistEvent):
    """``nac-accounting`` (no sample): RADIUS accounting start/update/stop of a NAC client."""

    ap: Mac | None = None
    client_ip: str | None = None
    mac: Mac | None = None
    org_id: str | None = None
    site_id: str | None = None
    timestamp: Timestamp | None = None
    type: str | None = None
    username: str | None = None
