"""`mistpipe dev`: broker, topics and services from one command; Ctrl-C stops everything it started."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

from support import MIST_SAMPLES, REPO, free_port, http_json, run_cli

from mistpipe.admin import list_topics
from mistpipe.localkafka import LocalBroker
from topics.names import all_topics


def test_dev_starts_everything_and_ctrl_c_stops_it(unique):
    """With --no-simulate: no simulator starts (its run with dev: tests/mistpipe/test_simulate.py)."""
    port, cport = free_port(), free_port()
    prefix = unique("dev") + "."
    argv = [
        "dev",
        "--no-simulate",
        "--port",
        str(port),
        "--controller-port",
        str(cport),
        "--state-dir",
        str(REPO / ".mistpipe"),
    ]
    ingest_port, web_port = free_port(), free_port()
    argv += ["--topic-prefix", prefix, "--partitions", "2", "--app-id", prefix.rstrip(".")]
    argv += ["--ingest-port", str(ingest_port), "--web-port", str(web_port)]
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
            if "replay the samples:" in line:  # printed once everything runs
                break
        assert broker.status().running
        # The services' logs go to files under the state dir; the console keeps dev's own lines.
        [worker_line] = [line for line in lines if line.startswith("[dev] starting worker:")]
        assert not [line for line in lines if line.startswith("[dev] starting simulator")]
        assert worker_line.rstrip().endswith(f"(log: {REPO / '.mistpipe' / 'logs' / 'worker.log'})")
        assert not any("[^Worker]" in line for line in lines)
        found = asyncio.run(list_topics(broker.bootstrap, [s.name for s in all_topics(prefix)]))
        assert len(found) == len(all_topics(prefix))
        assert {info.partitions for info in found.values()} == {2}

        # The printed replay command posts the samples into the ingest; the worker enriches and aggregates
        # them (with the sample reference data dev loaded): the asset of location.json is on Floor 1.
        replay = next(line for line in lines if "replay the samples:" in line).split("replay the samples:")[1]
        secret = replay.split("MISTPIPE_REPLAY_SECRET=")[1].split()[0]
        env = {**os.environ, "MISTPIPE_REPLAY_SECRET": secret}
        result = run_cli(
            "replay", str(MIST_SAMPLES), "--url", f"http://127.0.0.1:{ingest_port}/webhooks/mist", env=env
        )
        assert result.returncode == 0, result.stdout + result.stderr
        deadline = time.monotonic() + 60
        status, body = None, None
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            status, body = http_json(f"http://127.0.0.1:{web_port}/v1/locations/7fc2936fd243")
        assert status == 200 and body["site_name"] == "Mist Office" and body["map_name"] == "Floor 1"

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
        for datadir in (REPO / ".mistpipe").glob(f"worker-{prefix.rstrip('.')}-*"):
            shutil.rmtree(datadir, ignore_errors=True)
