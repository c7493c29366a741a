"""Helpers for tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
