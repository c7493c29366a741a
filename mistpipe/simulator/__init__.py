"""A synthetic Mist site for `mistpipe simulate` and `mistpipe dev`: world.py makes the events, run.py
batches, signs and posts them, expected.py says what the aggregates should then hold."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent

# The bundled sample site (mistpipe/samples/api: site "Mist Office", map "Floor 1", zone "Lobby") and the
# simulator's own zones on the same map (site/zones.json), so that a simulated floor has several zones.
SAMPLE_REFERENCE = _HERE.parent / "samples" / "api"
SIMULATOR_ZONES = _HERE / "site"
DEFAULT_REFERENCE = (SAMPLE_REFERENCE, SIMULATOR_ZONES)
