"""What every benchmark needs: a broker, a deployment's topics, mistpipe services as subprocesses, memory.

A benchmark starts its own broker (a LocalBroker on free ports; its data dir is removed afterwards) unless
it is given one, creates every topic under a unique prefix, runs `python -m mistpipe.cli ingest|worker` as
subprocesses with the MISTPIPE_* environment (mistpipe.deployment, as the tests do), and removes what it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from mistpipe.admin import delete_topics
from mistpipe.deployment import Deployment

REPO = Path(__file__).resolve().parents[2]


def say(message: str) -> None:
    """Progress, on stderr: stdout holds the report (and, last, the JSON line)."""
    click.echo(f"[bench] {message}", err=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(values: list[float]) -> str:
    """`median (min-max)` of repeated measurements."""
    if not values:
        return "-"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


# -- Kafka and a deployment's topics ---------------------------------------------------------------------


@contextlib.contextmanager
def kafka(bootstrap: str | None, state_dir: Path) -> Iterator[str]:
    """The given broker, else a LocalBroker of our own on free ports, stopped and its data removed after."""
    if bootstrap:
        yield bootstrap
        return
    from mistpipe.localkafka import LocalBroker

    broker = LocalBroker(state_dir, port=free_port(), controller_port=free_port())
    say(f"starting Kafka {broker.version} on {broker.bootstrap}")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(broker.node_dir, ignore_errors=True)


async def _create_topics(d: Deployment, extra: list[str]) -> None:
    from mistpipe.admin import ensure_topics, raw_topic_configs
    from mistpipe.settings import Settings
    from topics.names import TopicSpec, all_topics

    specs = all_topics(d.prefix) + [TopicSpec(d.topic(name), False) for name in extra]
    configs = raw_topic_configs(d.prefix, Settings.model_fields["max_body_bytes"].default)
    report = await ensure_topics(d.bootstrap, specs, d.partitions, configs=configs)
    if not report.ok:
        raise click.ClickException(f"topics differ from what the benchmark needs: {report.mismatched}")


@contextlib.contextmanager
def deployment(
    bootstrap: str, partitions: int, name: str, extra_topics: list[str] = ()
) -> Iterator[Deployment]:
    """Every topic of the contract (and `extra_topics`) under a fresh prefix; deleted afterwards."""
    unique = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    state = Path(tempfile.mkdtemp(prefix=f"mistpipe-{unique}-"))
    d = Deployment(bootstrap, f"{unique}.", partitions, unique, state)
    asyncio.run(_create_topics(d, list(extra_topics)))
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(delete_topics(bootstrap, d.prefix, f"{d.app_id}-"))
        shutil.rmtree(state, ignore_errors=True)


async def produce_raw(
    bootstrap: str,
    prefix: str,
    bodies: Iterable[tuple[str, bytes, str | None]],
    *,
    chunk: int = 1,
    pause_s: float = 0.0,
) -> None:
    """Raw bodies (mist topic, body, key) into mist.<topic> as the ingest writes them: verbatim, keyed by
    their site or org (as JSON), with the ingest's headers; `chunk` at a time, each chunk acknowledged
    before the next, `pause_s` after each."""
    from aiokafka import AIOKafkaProducer

    from topics import headers
    from topics.serde import encode_key

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        pending = []
        for mist_topic, body, key in bodies:
            now_ms = str(int(time.time() * 1000)).encode()
            hs = [(headers.MIST_TOPIC, mist_topic.encode()), (headers.RECEIVED_AT_MS, now_ms)]
            pending.append(await producer.send(prefix + mist_topic, body, key=encode_key(key), headers=hs))
            if len(pending) >= chunk:
                await asyncio.gather(*pending)
                pending = []
                if pause_s:
                    await asyncio.sleep(pause_s)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def load_reference(d: Deployment, objects: dict[str, list[dict]]) -> None:
    from pipeline.reference import publish

    await publish(d.bootstrap, d.prefix, objects)


# -- processes -------------------------------------------------------------------------------------------


def http_status(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def http_json(url: str, timeout: float = 5, headers: dict | None = None) -> tuple[int | None, object]:
    """(status, the JSON body) of a GET; the text when the body is not JSON; (None, reason) when no answer."""
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=timeout
        ) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    except OSError as exc:
        return None, str(exc)
    try:
        return status, json.loads(data or b"null")
    except ValueError:
        return status, data.decode(errors="replace")


def http_get(url: str, timeout: float = 5) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError:
        return None


class Service:
    """A subprocess (by default `python -m mistpipe.cli ARGV`), its output in a log file; `start` waits
    until `ready_url` answers 200."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path, ready_url: str, module: str = ""
    ) -> None:
        self.name, self.argv, self.env, self.log, self.ready_url = name, argv, env, log, ready_url
        self.module = module or "mistpipe.cli"
        self.proc: subprocess.Popen | None = None
        self.started_wall = 0.0  # time.time() when the process was started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> Service:
        """Start the process; do not wait."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.started_wall = time.time()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.argv],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def start(self, timeout: float = 120) -> Service:
        """Start the process and wait until it is ready."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise click.ClickException(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if http_status(self.ready_url) == 200:
                return self
            time.sleep(0.2)
        self.stop()
        raise click.ClickException(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@contextlib.contextmanager
def running(service: Service, timeout: float = 120) -> Iterator[Service]:
    service.start(timeout)
    try:
        yield service
    finally:
        service.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process and its descendants, summed, in MB (an upper bound of the
    tree's peak). Read while the processes still run."""
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
        todo.extend(_children(current))
    return total_kb / 1024


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time a process used so far (all its threads); with `children`, that of its children
    that ended and were waited for as well."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = fields[11:15] if children else fields[11:13]  # utime, stime, then cutime, cstime
    return sum(map(int, ticks)) / os.sysconf("SC_CLK_TCK")


def kafka_pids() -> list[int]:
    """The Kafka brokers running on this machine (their JVMs' main class), whoever started them."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in cmdline:
                found.append(int(entry.name))
    return found


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy so far (every core; /proc/stat, idle and iowait aside)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class CpuShares:
    """The CPU that each of some processes, and the machine as a whole, used between `start` and `stop`,
    in cores: what bounds a run when the machine is full."""

    def __init__(self, pids: dict[str, list[int]], with_children: Iterable[str] = ()) -> None:
        """`with_children`: the names whose processes' children count too, once ended (a wrk run)."""
        self.pids = pids
        self.with_children = frozenset(with_children)
        self.shares: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {
            name: sum(cpu_seconds(p, name in self.with_children) for p in pids)
            for name, pids in self.pids.items()
        }
        now["machine"] = machine_busy_s()
        return now

    def start(self) -> None:
        self._wall, self._start = time.monotonic(), self._now()

    def stop(self) -> None:
        wall = time.monotonic() - self._wall
        end = self._now()
        self.shares = {name: (end[name] - self._start[name]) / wall for name in end}

    def describe(self) -> str:
        parts = [f"{name} {share:.2f}" for name, share in self.shares.items() if name != "machine"]
        whole = f"the whole machine {self.shares['machine']:.2f} of {os.cpu_count()}"
        return f"CPU in cores: {', '.join(parts)}; {whole}"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"cpus": str(os.cpu_count()), "cpu": model, "memory": f"{mem_kb / 1024**2:.1f} GiB", "load": load}


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A scratch dir for bodies, scripts and the services' logs: removed after a run, kept after a failure
    (its path is printed, for the logs)."""
    path = Path(tempfile.mkdtemp(prefix=f"mistpipe-bench-{name}-"))
    try:
        yield path
    except BaseException:
        say(f"failed; logs kept in {path}")
        raise
    shutil.rmtree(path, ignore_errors=True)


# -- profiles --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, rate: int = 100) -> Iterator[None]:
    """py-spy samples `pid` (and its threads) while the block runs; collapsed stacks to `out`, with a
    summary of the top functions beside it (`out` with .txt). Nothing when `out` is None."""
    if out is None:
        yield
        return
    py_spy = Path(sys.executable).with_name("py-spy")
    binary = str(py_spy) if py_spy.exists() else shutil.which("py-spy")
    if not binary:
        raise click.ClickException("py-spy not found: pip install -e '.[bench]'")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        # --gil: only the thread holding the GIL, i.e. where the Python time goes (threads waiting in C,
        # librdkafka's poll or a thread pool's queue, would otherwise count as busy).
        [binary, "record", "--gil", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if out.exists():
            out.with_suffix(".txt").write_text(summarize(out))
            say(f"profile: {out} (top functions: {out.with_suffix('.txt')})")


def summarize(raw: Path, top: int = 30) -> str:
    """Top functions of py-spy's collapsed stacks: by own time (the frame on top) and by total time (on
    the stack), as shares of all samples."""
    import re

    frame = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0

    def name(f: str) -> str:
        m = frame.match(f.strip())
        if not m:
            return f.strip()
        path = m.group(2)
        for marker in ("site-packages/", "/lib/python3", str(REPO) + "/"):
            if marker in path:
                path = path.split(marker, 1)[1]
        return f"{m.group(1)} ({path})"

    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [name(f) for f in stack.split(";")]
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if not frames:
            continue
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            total[f] = total.get(f, 0) + n
    lines = [f"{samples} samples"]
    for title, table in (("own time", own), ("total time (on the stack)", total)):
        lines.append(f"-- by {title}")
        for f, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"{100 * n / max(1, samples):5.1f}%  {f}")
    return "\n".join(lines) + "\n"
