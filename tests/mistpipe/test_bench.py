"""`mistpipe bench ingest|pipeline|e2e|faults` run briefly, so that they cannot rot: each exits 0 and
prints, last, one JSON object with exactly the issue's keys, all positive numbers. No speed is asserted
here: figures on a shared machine are for BENCHMARKS.md, not for pass/fail."""

from __future__ import annotations

import json
import math

import pytest
from support import run_cli

pytestmark = pytest.mark.kafka

INGEST_KEYS = {
    "bodies_per_s",
    "events_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "http_ceiling_bodies_per_s",
    "kafka_ceiling_bodies_per_s",
    "ratio_to_http_ceiling",
}
PIPELINE_KEYS = {
    "events_per_s",
    "ceiling_events_per_s",
    "ratio_to_ceiling",
    "peer_events_per_s",
    "ratio_to_peer",
    "worker_peak_rss_mb",
    "recovery_s",
}
E2E_KEYS = {"offered_events_per_s", "p50_ms", "p99_ms"}


def last_json(*args: str) -> dict:
    result = run_cli("bench", *args, "--json", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-3000:]
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict), lines[-1]
    return figures


def assert_positive(figures: dict, keys: set[str]) -> None:
    assert set(figures) == keys
    for key, value in figures.items():
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value > 0, (key, value)


def test_bench_ingest_starts_its_own_broker():
    # No --bootstrap: the bench starts (and stops) a local broker of its own, as a user's run does.
    figures = last_json("ingest", "--seconds", "2", "--rounds", "1", "--partitions", "2")
    assert_positive(figures, INGEST_KEYS)
    assert figures["events_per_s"] == pytest.approx(figures["bodies_per_s"] * 10, rel=0.01)
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]


def test_bench_pipeline(kafka_bootstrap):
    figures = last_json("pipeline", "--events", "2000", "--partitions", "2", "--bootstrap", kafka_bootstrap)
    assert_positive(figures, PIPELINE_KEYS)


def test_bench_e2e(kafka_bootstrap):
    figures = last_json(
        "e2e", "--rate", "100", "--seconds", "3", "--partitions", "2", "--bootstrap", kafka_bootstrap
    )
    assert_positive(figures, E2E_KEYS)
    assert figures["p50_ms"] <= figures["p99_ms"]


def test_bench_faults_a_short_kill_loop(kafka_bootstrap):
    # Four kills, one of each kind: every aggregate as the model says, every event enriched.
    result = run_cli(
        "bench",
        "faults",
        "--kills",
        "4",
        "--events",
        "4000",
        "--bootstrap",
        kafka_bootstrap,
        "--json",
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures == {"kills": 4, "differences": 0, "events_lost": 0, "events": 4000}
    assert "1 first-commit, 1 commit, 1 rebalance, 1 random" in result.stdout
