"""Helpers for tests that run the site simulator against a deployment (importable: tests/ is on the path)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import REPO, http_json, run_cli

from mistpipe.simulator import DEFAULT_REFERENCE

SITE = "441a1214-6928-442a-8e92-e1d34b8ec6a6"
MAP = "845a23bf-bed9-e43c-4c86-6fa474be7ae5"  # "Floor 1": 1250 x 1500 px, 40.94 px/m
ZONES = 5  # Lobby (samples) and the simulator's four


def load_reference(deployment) -> None:
    """The sample site, map and Lobby, and the simulator's zones on the same map, into mist.ref.*."""
    paths = [str(p) for p in DEFAULT_REFERENCE]
    result = run_cli(
        "reference",
        "load",
        *paths,
        "--kafka-bootstrap",
        deployment.bootstrap,
        "--topic-prefix",
        deployment.prefix,
    )
    assert result.returncode == 0, result.stderr


def simulate_argv(ingest, deployment, out: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mistpipe.cli",
        "simulate",
        "--url",
        ingest.url,
        "--secret",
        deployment.secret,
        "--out",
        str(out),
        *args,
    ]


def run_simulation(ingest, deployment, out: Path, *args: str, timeout: float = 240) -> str:
    """Run `mistpipe simulate ... --out OUT ARGS` to its end; what it printed. It must exit 0."""
    result = subprocess.run(
        simulate_argv(ingest, deployment, out, *args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_simulation(ingest, deployment, out: Path, log: Path, *args: str) -> subprocess.Popen:
    """`mistpipe simulate` in the background (its output in `log`)."""
    with open(log, "wb") as sink:
        return subprocess.Popen(
            simulate_argv(ingest, deployment, out, *args), cwd=REPO, stdout=sink, stderr=subprocess.STDOUT
        )


def api(port: int, path: str, token: str | None = None) -> tuple[int | None, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return http_json(f"http://127.0.0.1:{port}{path}", headers=headers)


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call `check` until it returns something true (returned) or the time is up (the last result)."""
    deadline = time.monotonic() + timeout
    result = check()
    while not result and time.monotonic() < deadline:
        time.sleep(interval)
        result = check()
    return result
