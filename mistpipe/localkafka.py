"""A real Apache Kafka 4.x broker on 127.0.0.1, without Docker: jars from Maven Central, one KRaft node.

Everything lives under `<state_dir>/kafka/`:
  libs-<version>/           the broker's jars (Maven copies them once; later starts need no network)
  <port>/server.properties  generated; one combined broker+controller node
  <port>/data/              the KRaft log dir, formatted on first start
  <port>/server.log         the broker's log
  <port>/broker.json        pid and ports of the running broker
One folder per port, so a test broker and a dev broker never share data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent / "kafka"
POM = PACKAGE_DIR / "pom.xml"
LOG4J_CONFIG = PACKAGE_DIR / "log4j2.properties"


class BrokerError(RuntimeError):
    pass


def kafka_version(pom: Path = POM) -> str:
    """The pinned Kafka version: the pom is the one place it is written."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise BrokerError(f"no <kafka.version> in {pom}")
    return node.text.strip()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise BrokerError("java not found: install a JDK >= 17 or set JAVA_HOME")
    return found


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not a running broker.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


async def _cluster_has_broker(bootstrap: str) -> bool:
    """True once the broker answers a metadata request listing itself (it can then create topics)."""
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    log: Path


class LocalBroker:
    def __init__(
        self,
        state_dir: Path,
        port: int = 9092,
        controller_port: int = 9093,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        """`overrides`: broker properties set over the defaults below (e.g. a test's retention)."""
        if port == controller_port:
            raise BrokerError("the broker port and the controller port must differ")
        self.state_dir = Path(state_dir)
        self.port = port
        self.controller_port = controller_port
        self.overrides = dict(overrides or {})
        self.version = kafka_version()
        self.home = self.state_dir / "kafka"
        self.libs = self.home / f"libs-{self.version}"
        self.node_dir = self.home / str(port)
        self.data_dir = self.node_dir / "data"
        self.properties = self.node_dir / "server.properties"
        self.log = self.node_dir / "server.log"
        self.pidfile = self.node_dir / "broker.json"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- jars -------------------------------------------------------------------------------------------

    def fetch_jars(self) -> Path:
        """Copy the pinned jars into libs-<version>/ with Maven, once; a marker file says it completed."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise BrokerError("mvn not found: Maven fetches the Kafka jars (apt-get install maven)")
        tmp = self.home / f".libs-{self.version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp.resolve()}",
            "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(
                f"Maven could not fetch Kafka {self.version}:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
            )
        (tmp / ".complete").write_text(self.version)
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        return self.libs

    # -- lifecycle --------------------------------------------------------------------------------------

    def _classpath(self) -> str:
        return str(self.libs.resolve() / "*")

    def _write_properties(self) -> None:
        p, c = self.port, self.controller_port
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            # One node: internal topics cannot have the default replication 3 / min ISR 2.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Fit the log cleaner (compacted reference topics) into a small heap.
            "log.cleaner.dedupe.buffer.size": "16777216",
            "num.partitions": "1",
            # Topics are created by `mistpipe topics create`, never implicitly by a stray produce.
            "auto.create.topics.enable": "false",
        }
        lines.update(self.overrides)
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _format(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = [
            _java(),
            "-cp",
            self._classpath(),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            # One token: a base64url id may start with "-", which argparse would read as an option.
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.properties),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(
                f"formatting {self.data_dir} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )

    def _read_pid(self) -> int | None:
        try:
            pid = int(json.loads(self.pidfile.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> BrokerStatus:
        pid = self._read_pid()
        return BrokerStatus(running=pid is not None, pid=pid, bootstrap=self.bootstrap, log=self.log)

    def start(self, timeout: float = 90.0) -> str:
        """Start the broker unless it runs; return the bootstrap address once it serves metadata."""
        if self.status().running:
            self._wait_ready(timeout, pid=None)
            return self.bootstrap
        if _port_open(self.port) or _port_open(self.controller_port):
            raise BrokerError(
                f"port {self.port} or {self.controller_port} is already in use by another process; "
                "choose others with --port/--controller-port"
            )
        self.fetch_jars()
        self.node_dir.mkdir(parents=True, exist_ok=True)
        self._write_properties()
        self._format()
        heap = os.environ.get("MISTPIPE_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
        cmd = [
            _java(),
            *heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self.properties),
        ]
        with open(self.log, "ab") as log:
            # A session of its own: Ctrl-C in a terminal running `mistpipe dev` reaches mistpipe, which stops
            # the broker cleanly, instead of killing the JVM mid-write.
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_raise_open_files_limit,
            )
        self.pidfile.write_text(
            json.dumps({"pid": proc.pid, "port": self.port, "controller_port": self.controller_port})
        )
        try:
            self._wait_ready(timeout, pid=proc.pid)
        except BrokerError:
            self.stop()
            raise
        return self.bootstrap

    def _wait_ready(self, timeout: float, pid: int | None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid is not None and not _pid_alive(pid):
                raise BrokerError(f"the broker exited during start; last lines of {self.log}:\n{self.tail()}")
            if _port_open(self.port) and asyncio.run(_cluster_has_broker(self.bootstrap)):
                return
            time.sleep(0.3)
        raise BrokerError(f"the broker did not answer within {timeout:.0f}s; see {self.log}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> bool:
        """Controlled shutdown (SIGTERM), SIGKILL after the timeout. False if it was not running."""
        pid = self._read_pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL, as a crash would: for fault-injection tests. The data dir stays for a restart."""
        pid = self._read_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)


def _raise_open_files_limit() -> None:
    """A broker keeps files open per partition: give it the hard limit, not the shell's soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
