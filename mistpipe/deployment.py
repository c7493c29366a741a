"""A deployment of mistpipe among others on one broker, as benchmarks and tests run them: its own topics,
consumer group and state, and the environment its services (`mistpipe ingest|worker`) read them from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Deployment:
    """One mistpipe beside others on a broker: a unique topic prefix, app id (consumer group), state dir."""

    bootstrap: str
    prefix: str
    partitions: int
    app_id: str
    state_dir: Path
    secret: str = "mistpipe-webhook-secret"

    def topic(self, suffix: str) -> str:
        return self.prefix + suffix

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MISTPIPE_")}
        env.update(
            MISTPIPE_KAFKA_BOOTSTRAP=self.bootstrap,
            MISTPIPE_TOPIC_PREFIX=self.prefix,
            MISTPIPE_PARTITIONS=str(self.partitions),
            MISTPIPE_APP_ID=self.app_id,
            MISTPIPE_STATE_DIR=str(self.state_dir),
            MISTPIPE_WEBHOOK_SECRETS=self.secret,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env
