"""Helpers for tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The project's research folder sits beside the repository; the product ships its own copy of the samples
# (mistpipe/samples), which tests/mistpipe/test_samples.py keeps equal to ../shared where that exists.
SHARED = REPO.parent / "shared"
BUNDLED_SAMPLES = REPO / "mistpipe" / "samples"
MIST_SAMPLES = BUNDLED_SAMPLES / "webhooks"
MIST_API = BUNDLED_SAMPLES / "api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run `mistpipe ARGS...` as a user would, in the repo, and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "mistpipe.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env or os.environ,
        timeout=timeout,
    )


# -- a deployment of mistpipe on the session broker: its own topics, group and state -----------------------


@dataclass
class Deployment:
    """One test's mistpipe: unique topic prefix, app id (consumer group), state dir; on the shared broker."""

    bootstrap: str
    prefix: str
    partitions: int
    app_id: str
    state_dir: Path
    secret: str = "test-webhook-secret"

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


class Service:
    """A `mistpipe ...` subprocess, output in a log file; `start` waits until `ready_url` answers 200."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, ready_url: str) -> None:
        self.name, self.argv, self.env, self.log, self.ready_url = name, argv, env, log, ready_url
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mistpipe.cli", *self.argv],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if http_status(self.ready_url) == 200:
                return
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def http_status(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def http_json(url: str, timeout: float = 5) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def read_topics(bootstrap: str, topics: list[str], *, until: int, timeout: float = 60) -> list:
    """Records of `topics` from the beginning, once at least `until` arrived (or the timeout passed)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < until and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        # A little longer, so that a test expecting exactly `until` also sees what should not be there.
        for batch in (await consumer.getmany(timeout_ms=1000)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records
