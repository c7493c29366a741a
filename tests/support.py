"""Helpers for tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mistpipe.bench.common import (
    http_json,  # noqa: F401  (the tests' HTTP helper)
    produce_raw,
)
from mistpipe.deployment import Deployment

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


class Service:
    """A `mistpipe ...` subprocess, output in a log file; `start` waits until `ready_url` answers 200."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, ready_url: str) -> None:
        self.name, self.argv, self.env, self.log, self.ready_url = name, argv, env, log, ready_url
        self.proc: subprocess.Popen | None = None
        self.terminating = False

    def start(self, timeout: float = 90) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.terminating = False
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

    def terminate(self) -> None:
        """SIGTERM without waiting: several services shut down side by side; `stop` then waits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.terminating = True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        if sig != signal.SIGTERM or not self.terminating:  # a second SIGTERM would cut Faust's shutdown short
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


async def read_topics(
    bootstrap: str, topics: list[str], *, until: int | Callable[[list], bool], timeout: float = 60
) -> list:
    """Records of `topics` from the beginning, once at least `until` arrived (or the timeout passed).

    `until` may instead be a test of the records read so far: where a record can be there twice (a producer's
    retry after a broker outage), a count reached says nothing about which records are there."""
    done = until if callable(until) else lambda records: len(records) >= until
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while not done(records) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        # A little longer, so that a test expecting exactly `until` also sees what should not be there.
        for batch in (await consumer.getmany(timeout_ms=1000)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def produce_bodies(deployment: Deployment, bodies: list[tuple[str, bytes, str | None]]) -> None:
    """Write raw bodies as the ingest does: to mist.<topic>, verbatim, keyed by site or org, with headers;
    one at a time, each acknowledged before the next."""
    await produce_raw(deployment.bootstrap, deployment.prefix, bodies)


def run_async(coro: object) -> object:
    """Run a coroutine to completion from sync code, even where an event loop runs (a thread of its own)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def post_bodies(url: str, secret: str, bodies: list[bytes]) -> list[int]:
    """POST webhook bodies one after the other, signed as Mist signs them; the statuses."""
    import aiohttp

    from ingest.signature import sign

    statuses = []
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            headers = {"Content-Type": "application/json", "User-Agent": "Mist-webhook", **sign(body, secret)}
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses.append(response.status)
    return statuses
