"""The samples mistpipe ships are the project's reference samples, unchanged."""

import pytest
from support import MIST_API, MIST_SAMPLES, SHARED


@pytest.mark.parametrize(("bundled", "shared"), [(MIST_SAMPLES, "samples"), (MIST_API, "api")])
def test_bundled_samples_equal_shared(bundled, shared):
    source = SHARED / "mist" / shared
    if not source.is_dir():
        # Only the research folder can be missing (a clone elsewhere); the bundled copy is then the truth.
        assert any(bundled.glob("*.json"))
        return
    assert sorted(p.name for p in bundled.glob("*.json")) == sorted(p.name for p in source.glob("*.json"))
    for path in source.glob("*.json"):
        assert (bundled / path.name).read_bytes() == path.read_bytes(), path.name
