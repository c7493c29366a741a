"""Configuration: environment variables `MISTPIPE_*`, each also a CLI flag (see mistpipe.options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MISTPIPE_", extra="ignore")

    # -- Kafka and topics
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic_prefix: str = Field("mist.", description="Prefix of every Kafka topic")
    partitions: int = Field(8, ge=1, description="Partitions of every topic (equal everywhere, for Faust)")
    state_dir: Path = Field(Path(".mistpipe"), description="Local state: broker jars/data/log, worker tables")

    # -- ingest
    ingest_port: int = Field(8080, ge=0, le=65535, description="Port of the webhook ingest")
    # NoDecode: a plain comma-separated list in the env var, not JSON. SecretStr: printing or logging the
    # settings never shows a secret.
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated webhook secrets (two in a rotation); prefer the env var: ps shows flags",
    )
    accept_sha1: bool = Field(False, description="Also accept X-Mist-Signature (HMAC-SHA1)")
    allow_unsigned: bool = Field(False, description="Run the ingest without a webhook secret (insecure)")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest body accepted (413 above)")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Time a sender has to send a whole body (408 after it; its slot is freed)"
    )
    max_inflight: int = Field(1024, ge=1, description="Requests in flight before the ingest answers 503")
    produce_timeout_s: float = Field(5.0, gt=0, description="Wait for Kafka's ack before answering 503")

    # -- worker
    app_id: str = Field("mistpipe", description="Faust app id: the workers' consumer group and table prefix")
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the worker's web server (query API)")
    web_bind: str = Field("127.0.0.1", description="Address the worker's web server listens on")
    dedupe_seconds: float = Field(600.0, ge=0, description="Horizon within which a repeated event is dropped")
    presence_seconds: float = Field(300.0, gt=0, description="An entity is present on a map this long after")
    visit_window_seconds: float = Field(900.0, gt=0, description="Tumbling window of zone visit statistics")
    rssi_window_seconds: float = Field(60.0, gt=0, description="Tumbling window of RSSI statistics")
    query_token: SecretStr | None = Field(
        None, description="When set, the query API asks for `Authorization: Bearer <token>`"
    )
    retention_seconds: float = Field(
        86400.0,
        gt=0,
        description="Aggregates (locations, zone members, windows) kept after their last update",
    )
    session_timeout_s: float = Field(
        60.0,
        ge=6,
        description="A worker that stops heartbeating (crashed) loses its partitions to the others after it",
    )
    commit_interval_s: float = Field(
        2.8,
        gt=0,
        description="How often a worker commits its offsets: what a crashed worker's successor reads again",
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=0,
        description="How long the broker may hold a worker's fetch for new records: the longest a partition "
        "with new records can wait behind a fetch of idle ones (one fetch per broker is in flight)",
    )
    fetch_min_bytes: int = Field(
        32768,
        ge=1,
        description="How many bytes of new records a worker's fetch waits for (at most the fetch wait): "
        "fewer fetches, each of every source partition, at the price of that wait",
    )
    worker_linger_ms: int = Field(
        50,
        ge=0,
        le=1000,
        description="How long a worker's records wait to be sent with others to their partition: fewer, "
        "bigger produce requests (librdkafka's broker thread costs ~3x per record at 5 ms), at most this "
        "much later on the derived topics",
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @property
    def kafka_state_dir(self) -> Path:
        return self.state_dir / "kafka"


def load(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (CLI) values winning; None means 'not given'."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
