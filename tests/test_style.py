"""Style never drifts: ruff's lint and format check are part of the test command."""

import shutil
import subprocess
import sys
from pathlib import Path

from support import REPO


def _ruff() -> list[str]:
    found = Path(sys.executable).with_name("ruff")
    return [str(found)] if found.exists() else [shutil.which("ruff") or "ruff"]


def test_ruff_check():
    result = subprocess.run([*_ruff(), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = subprocess.run([*_ruff(), "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
