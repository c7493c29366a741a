"""Kafka topic administration: create every topic of the contract up front, idempotently.

Faust does not create source topics, and a source topic whose partition count differs from the app's
`topic_partitions` makes the first table write fail (`PartitionsMismatch`): so topics are created here, with
exactly the configured partitions, and an existing topic with another count is reported, never silently kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from topics.catalogue import CATALOGUE
from topics.names import TopicSpec, raw_topic, unrouted_topic


def raw_topic_configs(prefix: str, max_body_bytes: int) -> dict[str, dict[str, str]]:
    """Raw topics hold whole webhook bodies, up to the ingest's limit (Kafka's default is ~1 MiB)."""
    bodies = {"max.message.bytes": str(max_body_bytes + 64 * 1024)}
    return dict.fromkeys([raw_topic(t, prefix) for t in CATALOGUE] + [unrouted_topic(prefix)], bodies)


@dataclass
class TopicsReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # name -> what differs from the contract (partitions, cleanup.policy)
    mismatched: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatched


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    cleanup_policy: str


def _config(spec: TopicSpec, extra: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    config = {"cleanup.policy": "compact"} if spec.compacted else {}
    config.update(extra.get(spec.name, {}))
    return config


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, TopicInfo]:
    """Partition count and cleanup.policy of each named topic that exists."""
    if not names:
        return {}
    meta = await admin.describe_topics(names)
    counts = {t["topic"]: len(t["partitions"]) for t in meta if t["error_code"] == 0}
    if not counts:
        return {}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, configs={"cleanup.policy": None}) for name in counts
    ]
    policies: dict[str, str] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            _error_code, _error_message, _rtype, rname, configs = resource[:5]
            for entry in configs:
                if entry[0] == "cleanup.policy":
                    policies[rname] = entry[1]
    return {n: TopicInfo(n, c, policies.get(n, "delete")) for n, c in counts.items()}


async def _await_visible(
    admin: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> dict[str, TopicInfo]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await describe(admin, names)
        if len(found) == len(names) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    partitions: int,
    replication_factor: int = 1,
    timeout_ms: int = 30000,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> TopicsReport:
    """Create the missing topics (with `configs[name]` on top of the compaction policy); report the rest."""
    specs = list(specs)
    configs = configs or {}
    report = TopicsReport()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        existing = await describe(admin, [s.name for s in specs])
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(s.name, partitions, replication_factor, topic_configs=_config(s, configs))
                    for s in missing
                ],
                timeout_ms=timeout_ms,
            )
            raced = []
            for name, code, *rest in response.topic_errors:
                error = for_code(code)
                if code == 0:
                    report.created.append(name)
                elif error is TopicAlreadyExistsError:  # created meanwhile (a concurrent `topics create`)
                    raced.append(name)
                else:
                    message = rest[0] if rest else ""
                    raise error(f"creating {name}: {message}")
            # Metadata lags creation: return only once every topic is visible, so that the next command (or a
            # second `topics create`) sees them.
            visible = await _await_visible(admin, report.created + raced, timeout_ms / 1000)
            existing.update({n: i for n, i in visible.items() if n in raced})
        for spec in specs:
            info = existing.get(spec.name)
            if info is None:
                continue
            report.existing.append(spec.name)
            problems = []
            if info.partitions != partitions:
                problems.append(f"{info.partitions} partitions, configured {partitions}")
            if spec.compacted and "compact" not in info.cleanup_policy:
                problems.append(f"cleanup.policy={info.cleanup_policy}, expected compact")
            if problems:
                report.mismatched[spec.name] = "; ".join(problems)
    finally:
        await admin.close()
    return report


async def list_topics(bootstrap: str, names: list[str] | None = None) -> dict[str, TopicInfo]:
    """Existing topics (all non-internal ones, or just `names`) with partitions and cleanup.policy."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if names is None:
            names = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        return await describe(admin, names)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, *prefixes: str) -> None:
    """Delete every topic whose name starts with one of `prefixes` (a deployment's topics, its worker's
    changelogs): a broker's open files grow with partitions, so benchmarks and tests clean up after
    themselves."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefixes)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()
