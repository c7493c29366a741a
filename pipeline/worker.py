"""Run the Faust worker: `mistpipe worker`."""

from __future__ import annotations

import gc

import faust

from mistpipe.settings import Settings
from pipeline.app import create_app

# The worker holds its state in memory: hundreds of thousands of long-lived dicts, which every collection of
# the cyclic garbage collector's oldest generation walks, while the garbage of a pass is freed by reference
# counting anyway. Collections far apart cost a few megabytes of cycles left a little longer (BENCHMARKS.md).
GC_THRESHOLDS = (50_000, 20, 100)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker stops (SIGTERM / Ctrl-C: Faust commits and closes cleanly)."""
    gc.set_threshold(*GC_THRESHOLDS)
    pipeline = create_app(settings)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
