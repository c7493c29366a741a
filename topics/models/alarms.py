"""Alarms and audits: infrastructure topics, site- or org-level."""

from __future__ import annotations

from topics.models.common import Mac, MistEnum, MistEvent, Timestamp


class HaClusterNode(MistEnum):
    """Spec: ha_cluster_node_enum (gateway HA clusters only)."""

    NODE0 = "node0"
    NODE1 = "node1"


class AlarmEvent(MistEvent):
    """``alarms`` (spec: webhook_alarm_event). ``type`` is an open list (rogue-ap-detected, ...).

    The spec requires ``site_id``, but org-scoped alarms (``for_site`` false) need not carry one: optional.
    """

    aps: list[Mac] | None = None
    bssids: list[Mac] | None = None
    count: int | None = None
    event_id: str | None = None
    for_site: bool | None = None
    id: str | None = None
    last_seen: Timestamp | None = None
    node: HaClusterNode | None = None
    org_id: str | None = None
    site_id: str | None = None
    ssids: list[str] | None = None
    timestamp: Timestamp | None = None
    type: str | None = None
    update: bool | None = None


class AuditEvent(MistEvent):
    """``audits`` (spec: webhook_audit_event). Real payloads add before/after/site_name/user_agent (kept).

    The spec requires ``device_id``, but only device changes carry it; ``site_id`` is absent from org-level
    changes. Both optional.
    """

    admin_name: str | None = None
    device_id: str | None = None
    id: str | None = None
    message: str | None = None
    org_id: str | None = None
    site_id: str | None = None
    src_ip: str | None = None
    timestamp: Timestamp | None = None
