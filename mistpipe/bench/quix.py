"""A peer for `mistpipe bench pipeline`: the same core work written with Quix Streams, run over the same
preloaded raw topics, so that its events/s can stand beside the worker's.

Quix Streams pins a confluent-kafka older than the project's, so it never goes into the project's
environment: `ensure_venv` makes a virtualenv of its own (once; a stamp file holds the requirement it was
made with) and `run_peer` runs `peer_quix.py` (standard library, quixstreams and orjson only) with its
python, in a fresh consumer group and state dir, and reads the one JSON line it prints.

By hand: `python -m mistpipe.bench.quix --bootstrap HOST:PORT --topics a,b,c --events N`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mistpipe.admin import delete_topics
from mistpipe.bench.common import REPO, say

# The version the peer was written and measured against (3.28 pins confluent-kafka < 2.13).
QUIX_VERSION = "3.28.1"
REQUIREMENTS = (f"quixstreams=={QUIX_VERSION}", "orjson>=3.10")
PEER = Path(__file__).with_name("peer_quix.py")
STAMP = "mistpipe-requirements.txt"
VENV_ROOT = REPO / ".mistpipe"  # the local state dir (git-ignored), beside the broker's jars


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(root: Path) -> Path:
    """The python of `root / "quix-venv"`, made and filled with REQUIREMENTS unless its stamp says it is."""
    venv = root / "quix-venv"
    stamp = venv / STAMP
    wanted = "\n".join(REQUIREMENTS) + "\n"
    python = _python(venv)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        say(f"creating a virtualenv for Quix Streams in {venv}")
        root.mkdir(parents=True, exist_ok=True)
        _check([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    say(f"installing {', '.join(REQUIREMENTS)} into {venv}")
    stamp.unlink(missing_ok=True)
    _check(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS],
        "pip install",
    )
    stamp.write_text(wanted)
    return python


def _check(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )


def run_peer(
    bootstrap: str,
    topics: list[str],
    events: int,
    workdir: Path,
    timeout: float = 1800,
    venv_root: Path | None = None,
    keep_topics: bool = False,
) -> dict:
    """Run the Quix peer over `topics` (holding `events` events in all) until it processed them all; its
    JSON line ({"events", "seconds", "cpu_s", ...}) with `events_per_s` added. Its state dir and log go
    under `workdir`; the virtualenv under `venv_root` (default: the repo's .mistpipe/, kept across runs).
    The result also lists the changelog and repartition topics Quix created (records in each); they are
    deleted afterwards unless `keep_topics`."""
    python = ensure_venv(venv_root or VENV_ROOT)
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    group = f"mistpipe-bench-quix-{run_id}"
    state_dir = Path(tempfile.mkdtemp(prefix=f"quix-state-{run_id}-", dir=workdir))
    cmd = [
        str(python),
        str(PEER),
        "--bootstrap",
        bootstrap,
        "--topics",
        ",".join(topics),
        "--events",
        str(events),
        "--state-dir",
        str(state_dir),
        "--group",
        group,
    ]
    log = workdir / f"quix-peer-{run_id}.log"
    with open(log, "w+b") as err:
        try:
            # Its own working dir: Quix looks for a .env / quix.yaml there.
            proc = subprocess.run(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=state_dir,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the Quix peer did not finish in {timeout:.0f}s:\n{_tail(log)}") from None
    stdout = proc.stdout.decode(errors="replace")
    lines = [line[line.index("{") :] for line in stdout.splitlines() if "{" in line]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"the Quix peer failed ({proc.returncode}), stdout:\n{stdout[-1000:]}\nstderr:\n{_tail(log)}"
        )
    result = json.loads(lines[-1])
    result["events_per_s"] = round(result["events"] / result["seconds"], 1) if result["seconds"] else 0.0
    result["group"] = group
    # What Quix made on the broker (its state really changelogged): records per changelog/repartition topic.
    made = asyncio.run(_internal_topics(bootstrap, group))
    for kind in ("changelog", "repartition"):
        result[f"{kind}_topics"] = {name: n for name, n in made.items() if name.startswith(f"{kind}__")}
    if not keep_topics and made:
        asyncio.run(delete_topics(bootstrap, f"changelog__{group}--", f"repartition__{group}--"))
    shutil.rmtree(state_dir, ignore_errors=True)  # kept only after a failure, beside the log
    result["log"] = str(log)
    return result


async def _internal_topics(bootstrap: str, group: str) -> dict[str, int]:
    """Quix's internal topics of consumer group `group` (`changelog__GROUP--...`, `repartition__GROUP--...`)
    and the records each holds (the sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        prefixes = (f"changelog__{group}--", f"repartition__{group}--")
        cluster = await consumer._client.fetch_all_metadata()  # as baselines.consume_produce does
        names = sorted(t for t in cluster.topics() if t.startswith(prefixes))
        tps = [TopicPartition(t, p) for t in names for p in sorted(cluster.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {t: sum(n for tp, n in ends.items() if tp.topic == t) for t in names}
    finally:
        await consumer.stop()


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mistpipe.bench.quix")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated raw topics")
    parser.add_argument("--events", type=int, required=True, help="events the topics hold in all")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mistpipe-bench-quix",
        help="where the runs' state dirs and logs go",
    )
    parser.add_argument(
        "--venv-root", type=Path, default=None, help=f"where quix-venv/ is (default {VENV_ROOT})"
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep-topics", action="store_true", help="keep Quix's changelog/repartition topics")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run_peer(
        args.bootstrap,
        args.topics.split(","),
        args.events,
        args.workdir,
        args.timeout,
        args.venv_root,
        args.keep_topics,
    )
    say(
        f"Quix Streams {QUIX_VERSION}: {result['events_per_s']:,.0f} events/s ({result['events']} events in "
        f"{result['seconds']:.1f}s; run {time.monotonic() - started:.0f}s in all)"
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
