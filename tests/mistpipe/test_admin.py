"""`mistpipe topics create`: every topic of the contract, the configured partitions, compacted references."""

import asyncio

from support import run_cli as mistpipe

from mistpipe.admin import list_topics
from topics.names import all_topics


def test_topics_create_twice(kafka_bootstrap, unique):
    prefix = unique("t") + "."
    flags = ["--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--partitions", "3"]
    first = mistpipe("topics", "create", *flags)
    assert first.returncode == 0, first.stderr
    specs = all_topics(prefix)
    assert f"{len(specs)} created, 0 already there" in first.stdout

    second = mistpipe("topics", "create", *flags)  # idempotent
    assert second.returncode == 0, second.stderr
    assert f"0 created, {len(specs)} already there" in second.stdout

    found = asyncio.run(list_topics(kafka_bootstrap, [s.name for s in specs]))
    assert set(found) == {s.name for s in specs}
    for spec in specs:
        assert found[spec.name].partitions == 3, spec.name
        assert (found[spec.name].cleanup_policy == "compact") == spec.compacted, spec.name
    assert {f"{prefix}ref.sites", f"{prefix}ref.maps", f"{prefix}ref.zones"} <= {
        s.name for s in specs if s.compacted
    }
    for name in ("location", "location.enriched", "deadletter", "unrouted", "zone.visits", "rssi.windows"):
        assert prefix + name in found


def test_topics_create_reports_partition_mismatch(kafka_bootstrap, unique):
    prefix = unique("t") + "."
    base = ["--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", prefix]
    assert mistpipe("topics", "create", *base, "--partitions", "2").returncode == 0
    mismatch = mistpipe("topics", "create", *base, "--partitions", "4")
    assert mismatch.returncode == 1
    assert "2 partitions, configured 4" in mismatch.stderr


async def _config_of(bootstrap: str, topic: str, name: str) -> str | None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})]
        )
        for entry in response.resources[0][4]:
            if entry[0] == name:
                return entry[1]
        return None
    finally:
        await admin.close()


def test_raw_topics_hold_bodies_up_to_the_ingest_limit(kafka_bootstrap, unique):
    prefix = unique("t") + "."
    flags = ["--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--partitions", "1"]
    assert mistpipe("topics", "create", *flags, "--max-body-bytes", "3000000").returncode == 0
    for topic in ("location", "unrouted"):
        assert asyncio.run(_config_of(kafka_bootstrap, prefix + topic, "max.message.bytes")) == str(
            3000000 + 65536
        )
    # Derived topics hold small records: Kafka's default stays.
    assert (
        asyncio.run(_config_of(kafka_bootstrap, prefix + "location.enriched", "max.message.bytes"))
        == "1048588"
    )
