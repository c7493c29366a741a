"""Marvis Minis: synthetic tests that APs run against the network and applications (DHCP, DNS, curl, ping)."""

from __future__ import annotations

from topics.models.common import Mac, MistEvent, Timestamp


class _MinisProbe(MistEvent):
    """What every Minis result carries: which AP ran which probe, on which VLAN."""

    device_mac: Mac | None = None
    org_id: str | None = None
    probe_name: str | None = None
    probe_type: str | None = None
    site_id: str | None = None
    test_type: str | None = None
    timestamp: Timestamp | None = None
    vlan: int | None = None


class MinisApplicationEvent(_MinisProbe):
    """``minis-application``: an application probe (curl of a URL) and its latency, ms."""

    ip: str | None = None
    latency: float | None = None
    src_ip: str | None = None
    success: bool | None = None


class MinisReachabilityEvent(_MinisProbe):
    """``minis-reachability``: a reachability probe (ping of a host): latency, ms, and loss, percent."""

    avg_latency: float | None = None
    loss_percentage: float | None = None
    max_latency: float | None = None
    min_latency: float | None = None
    probe_target: str | None = None
    protocol: str | None = None
