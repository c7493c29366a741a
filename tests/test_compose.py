"""docker-compose.yml cannot run here (no Docker engine), so it is checked by reading it."""

import re

import click
import pytest
import yaml
from support import REPO

from mistpipe.cli import main
from mistpipe.settings import Settings

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Subcommands that later issues add; each leaves this set when its command lands.
NOT_YET_IN_CLI: set[str] = set()


def test_services():
    assert set(SERVICES) == {"kafka", "topics", "ingest", "worker"}


def test_kafka_is_one_kraft_node():
    kafka = SERVICES["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in str(kafka).lower()
    # One node: internal topics must not ask for 3 replicas.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1
    assert "healthcheck" in kafka


@pytest.mark.parametrize("name", ["topics", "ingest", "worker"])
def test_mistpipe_services_use_the_image_and_settings(name):
    service = SERVICES[name]
    assert service["build"] == "."
    env = service["environment"]
    fields = set(Settings.model_fields)
    for var in env:
        assert var.startswith("MISTPIPE_"), var
        assert var.removeprefix("MISTPIPE_").lower() in fields, f"{var} is not a setting"
    advertised = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert env["MISTPIPE_KAFKA_BOOTSTRAP"] in advertised
    if name != "topics":
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_commands_are_mistpipe_subcommands():
    entrypoint = re.search(r'^ENTRYPOINT \["mistpipe"\]$', (REPO / "Dockerfile").read_text(), re.M)
    assert entrypoint, "the image's entrypoint is the mistpipe CLI"
    for name in ("topics", "ingest", "worker"):
        words = SERVICES[name]["command"]
        if words[0] in NOT_YET_IN_CLI:
            assert words[0] not in main.commands, f"{words[0]} landed: remove it from NOT_YET_IN_CLI"
            continue
        ctx = click.Context(main)
        command = main
        for word in [w for w in words if not w.startswith("-")][:2]:
            if isinstance(command, click.Group):
                command = command.get_command(ctx, word)
                assert command is not None, f"{name}: `mistpipe {' '.join(words)}` is not a command"


def test_ports_match_settings():
    ingest_port = int(SERVICES["ingest"]["environment"]["MISTPIPE_INGEST_PORT"])
    web_port = int(SERVICES["worker"]["environment"]["MISTPIPE_WEB_PORT"])
    assert ingest_port == Settings.model_fields["ingest_port"].default
    assert web_port == Settings.model_fields["web_port"].default
    assert SERVICES["ingest"]["ports"] == [f"{ingest_port}:{ingest_port}"]
    assert SERVICES["worker"]["ports"] == [f"{web_port}:{web_port}"]
    # Partitions must match between the topic creator and the worker (Faust's PartitionsMismatch).
    assert (
        len({SERVICES[n]["environment"]["MISTPIPE_PARTITIONS"] for n in ("topics", "ingest", "worker")}) == 1
    )
