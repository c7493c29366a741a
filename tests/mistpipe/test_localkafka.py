"""`mistpipe kafka start|status|stop`: a real broker from Maven Central jars, driven as a user drives it."""

import os
import shutil

from support import REPO, free_port
from support import run_cli as mistpipe


def test_start_status_stop_restart_offline(tmp_path):
    port, cport = free_port(), free_port()
    flags = ["--port", str(port), "--controller-port", str(cport), "--state-dir", str(REPO / ".mistpipe")]
    node_dir = REPO / ".mistpipe" / "kafka" / str(port)
    try:
        first = mistpipe("kafka", "start", *flags)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        assert (node_dir / "server.log").stat().st_size > 0, "the broker writes its log to a file"

        again = mistpipe("kafka", "start", *flags)  # starting twice is harmless
        assert again.returncode == 0 and "already running" in again.stdout

        status = mistpipe("kafka", "status", *flags)
        assert status.returncode == 0 and "running pid=" in status.stdout

        stop = mistpipe("kafka", "stop", *flags)
        assert stop.returncode == 0 and "stopped" in stop.stdout
        status = mistpipe("kafka", "status", *flags)
        assert status.returncode == 1 and "not running" in status.stdout

        # Second start needs no network: Maven is not even on the PATH, the jars are cached.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "java").symlink_to(shutil.which("java"))
        offline = {**os.environ, "PATH": str(bin_dir)}
        restart = mistpipe("kafka", "start", *flags, env=offline)
        assert restart.returncode == 0, restart.stderr
        assert "started" in restart.stdout
    finally:
        mistpipe("kafka", "stop", *flags)
        shutil.rmtree(node_dir, ignore_errors=True)


def test_stop_when_not_running():
    port = free_port()
    result = mistpipe("kafka", "stop", "--port", str(port), "--controller-port", str(free_port()))
    assert result.returncode == 0 and "not running" in result.stdout
