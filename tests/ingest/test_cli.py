"""`mistpipe ingest` refuses to run unsigned by accident; `mistpipe dev` runs it with a secret of its own and
prints the replay command that works."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

from support import REPO, free_port, http_status, run_cli

from mistpipe.localkafka import LocalBroker


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MISTPIPE_")}, **extra}


def test_ingest_refuses_to_start_without_a_secret():
    result = run_cli("ingest", "--port", str(free_port()), env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert "MISTPIPE_WEBHOOK_SECRETS" in result.stderr and "MISTPIPE_ALLOW_UNSIGNED" in result.stderr


def test_dev_runs_the_ingest_and_its_replay_command_works(unique):
    port, cport, ingest_port = free_port(), free_port(), free_port()
    argv = [
        "dev",
        "--port",
        str(port),
        "--controller-port",
        str(cport),
        "--state-dir",
        str(REPO / ".mistpipe"),
    ]
    argv += ["--topic-prefix", unique("devi") + ".", "--partitions", "1", "--ingest-port", str(ingest_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistpipe.cli", *argv],
        cwd=REPO,
        env=clean_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    broker = LocalBroker(REPO / ".mistpipe", port=port, controller_port=cport)
    lines: list[str] = []
    try:
        command = None
        deadline = time.monotonic() + 120
        while command is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "dev exited early:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("[dev] replay the samples: "):
                command = line.removeprefix("[dev] replay the samples: ").strip()
        [secret_line] = [line for line in lines if "webhook secret of this run" in line]
        secret = secret_line.split()[-1]
        assert len(secret) >= 32 and f"MISTPIPE_REPLAY_SECRET={secret} " in command

        while http_status(f"http://127.0.0.1:{ingest_port}/readyz") != 200:
            assert time.monotonic() < deadline, "the ingest did not get ready"
            time.sleep(0.3)
        words = shlex.split(command)
        env_words = [w for w in words if "=" in w and w.split("=")[0].isupper()]
        rest = words[len(env_words) :]
        assert rest[0] == "mistpipe"
        replay = subprocess.run(
            [sys.executable, "-m", "mistpipe.cli", *rest[1:]],
            cwd=REPO,
            env=clean_env(**dict(w.split("=", 1) for w in env_words)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "24 accepted" in replay.stdout

        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        ingest_log = (REPO / ".mistpipe" / "logs" / "ingest.log").read_text()
        assert "[dev] stopped" in out and "ingest stopped" in ingest_log
        assert secret not in ingest_log  # printed once by dev, never logged by the ingest
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)
