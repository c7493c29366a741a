"""The Quix Streams peer of `mistpipe bench pipeline`, without Kafka: peer_quix.py runs in a virtualenv of
its own, so it must import nothing from the project; the venv is pinned to Quix Streams 3.28 and never made
twice; Quix stays out of the project's own environment."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

from support import REPO

from mistpipe.bench import quix

PEER = REPO / "mistpipe" / "bench" / "peer_quix.py"
PROJECT_PACKAGES = {"mistpipe", "pipeline", "ingest", "topics", "support"}


def _imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import in {path.name}: line {node.lineno}"
            found.add(node.module.split(".")[0])
    return found


def test_peer_imports_only_stdlib_quixstreams_and_json():
    modules = _imported_modules(PEER)
    assert not modules & PROJECT_PACKAGES
    assert modules - set(sys.stdlib_module_names) <= {"quixstreams", "orjson"}, modules
    assert "quixstreams" in modules


def test_peer_is_the_file_run_peer_runs():
    assert quix.PEER == PEER


def test_venv_is_pinned_to_quixstreams_3_28():
    assert quix.QUIX_VERSION.startswith("3.28.")
    pins = [r for r in quix.REQUIREMENTS if r.startswith("quixstreams")]
    assert pins == [f"quixstreams=={quix.QUIX_VERSION}"]
    assert any(r.startswith("orjson") for r in quix.REQUIREMENTS)


def test_quixstreams_is_not_in_the_project_environment():
    # Quix 3.28 pins confluent-kafka < 2.13: it lives in its own venv only.
    assert importlib.util.find_spec("quixstreams") is None


def test_ensure_venv_is_idempotent(tmp_path, monkeypatch):
    venv = tmp_path / "quix-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / quix.STAMP).write_text("\n".join(quix.REQUIREMENTS) + "\n")

    def no_install(*args, **kwargs):
        raise AssertionError(f"ensure_venv ran {args} although the stamp matches")

    monkeypatch.setattr(subprocess, "run", no_install)
    assert quix.ensure_venv(tmp_path) == venv / "bin" / "python"


def test_ensure_venv_reinstalls_on_another_pin(tmp_path, monkeypatch):
    venv = tmp_path / "quix-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / quix.STAMP).write_text("quixstreams==3.27.0\n")
    ran = []

    def fake_run(cmd, **kwargs):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    quix.ensure_venv(tmp_path)
    assert len(ran) == 1 and ran[0][1:4] == ["-m", "pip", "install"]  # the venv is there: pip only
    assert f"quixstreams=={quix.QUIX_VERSION}" in ran[0]
    assert (venv / quix.STAMP).read_text() == "\n".join(quix.REQUIREMENTS) + "\n"


def test_peer_helpers_without_quixstreams():
    # The peer imports quixstreams only when it runs: its helpers load here.
    spec = importlib.util.spec_from_file_location("peer_quix", PEER)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    assert peer.kind_of("bench-x.discovered-raw-rssi") == "discovered-raw-rssi"
    assert peer.kind_of("mist.location") == "location"
    assert peer.kind_of("mist.zone") == "zone"
    assert peer.member_of({"id": "i", "asset_id": "a"}) == "i"
    assert peer.member_of({"asset_id": "a"}) == "a"
    figures = peer.result(peer.Progress(10), None, None)
    assert figures["events"] == 0 and figures["seconds"] == 0.0
