"""The layout is the data flow: `topics` is the contract; `ingest` and `pipeline` never import each other."""

import ast

import pytest
from support import REPO

FORBIDDEN = {
    "topics": {"ingest", "pipeline", "mistpipe"},
    "ingest": {"pipeline"},
    "pipeline": {"ingest"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_boundaries(package):
    imports = imported_packages(package)
    crossing = {name: files for name, files in imports.items() if name in FORBIDDEN[package]}
    assert not crossing, f"{package} must not import {sorted(crossing)}: {crossing}"
