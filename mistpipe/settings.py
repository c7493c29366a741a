"""Configuration: environment variables `MISTPIPE_*`, each also a CLI flag (see mistpipe.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MISTPIPE_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "mist."
    partitions: int = Field(8, ge=1)
    ingest_port: int = Field(8080, ge=0, le=65535)
    web_port: int = Field(6066, ge=0, le=65535)
    # NoDecode: a plain comma-separated list in the env var, not JSON. Secrets stay SecretStr so that
    # printing or logging the settings never shows them.
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    state_dir: Path = Path(".mistpipe")

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
