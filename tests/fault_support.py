"""Helpers of the fault tests (tests/faults): metrics, reference data, topics, process measurements. The
workload with known aggregates, and the model of its answers, are mistpipe.bench.faultload's (the kill loop
`mistpipe bench faults` runs them too), re-exported here."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path

from support import MIST_API, Deployment

from mistpipe.bench.faultload import (  # noqa: F401 (re-exported for the tests)
    APS,
    LOBBY,
    MAP,
    ORG,
    PPM,
    SITE,
    Workload,
    answers,
    differences,
    expected_answers,
    sites_on_partitions,
    wait_for_answers,
    workload,
)


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus sample over the series matching `labels`, from /metrics text."""
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def wait_for_metric(port: int, name: str, predicate, timeout: float = 90, **labels: str) -> float:
    """Poll /metrics until predicate(value) holds; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = metric(await asyncio.to_thread(metrics_text, port), name, **labels)
        except OSError:
            value = None
        if (value is not None and predicate(value)) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.5)


# -- deployments ---------------------------------------------------------------------------------------------


async def load_reference(deployment: Deployment) -> None:
    """The bundled sample sites, maps and zones into the deployment's mist.ref.* topics."""
    from pipeline.reference import publish, read_files

    objects = read_files(sorted(MIST_API.glob("*.json")))
    await publish(deployment.bootstrap, deployment.prefix, objects)


async def create_topics(deployment: Deployment) -> None:
    from mistpipe.admin import ensure_topics
    from topics.names import all_topics

    report = await ensure_topics(deployment.bootstrap, all_topics(deployment.prefix), deployment.partitions)
    assert report.ok and not report.existing, report


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
