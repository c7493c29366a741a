"""Run the Faust worker: `mistpipe worker`."""

from __future__ import annotations

import faust

from mistpipe.settings import Settings
from pipeline.app import create_app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Blocks until the worker stops (SIGTERM / Ctrl-C: Faust commits and closes cleanly)."""
    pipeline = create_app(settings)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
