"""`mistpipe dev`: broker, topics and services from one command; Ctrl-C stops everything it started."""

import asyncio
import shutil
import signal
import subprocess
import sys
import time

from support import REPO, free_port

from mistpipe.admin import list_topics
from mistpipe.localkafka import LocalBroker
from topics.names import all_topics


def test_dev_starts_everything_and_ctrl_c_stops_it(unique):
    port, cport = free_port(), free_port()
    prefix = unique("dev") + "."
    argv = [
        "dev",
        "--port",
        str(port),
        "--controller-port",
        str(cport),
        "--state-dir",
        str(REPO / ".mistpipe"),
    ]
    argv += ["--topic-prefix", prefix, "--partitions", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistpipe.cli", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    broker = LocalBroker(REPO / ".mistpipe", port=port, controller_port=cport)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "dev exited early:\n" + "".join(lines)
            lines.append(line)
            if "[dev] running" in line:
                break
        assert broker.status().running
        found = asyncio.run(list_topics(broker.bootstrap, [s.name for s in all_topics(prefix)]))
        assert len(found) == len(all_topics(prefix))
        assert {info.partitions for info in found.values()} == {2}

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "[dev] stopped" in out
        assert not broker.status().running
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)
