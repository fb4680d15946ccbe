"""Apache Kafka on demand: the broker users deploy, as a Java process on a free loopback
port, for `parcelwatch broker --kafka`, `parcelwatch demo --broker kafka`, the bench and
`make test-kafka`. No Docker: the broker's jars come from Maven Central (through Maven,
once, into a cache directory), and a single KRaft node (broker and controller in one
process) runs on a log directory that survives a restart of the process, so a test can
`kill -9` the broker and start it again on the same data.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from parcelwatch.devtools.brokers.process import BrokerError, free_port, stop_process

KAFKA_VERSION = "4.1.1"
"""The tested Apache Kafka: docker-compose.yml and the Kubernetes files run the same."""

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>parcelwatch</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <!-- the broker logs through SLF4J 1.7: without a binding it says nothing -->
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
"""

_LOG4J = """status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache
logger.apache.level = WARN
"""


def cache_dir() -> Path:
    """Where the jars are kept: PARCELWATCH_KAFKA_CACHE, else ~/.cache/parcelwatch/kafka."""
    override = os.environ.get("PARCELWATCH_KAFKA_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "parcelwatch" / "kafka"


def fetch(version: str = KAFKA_VERSION, quiet: bool = True) -> Path:
    """The directory of the broker's jars, fetched from Maven Central on first use (about
    45 MB). Concurrent callers (pytest-xdist workers) wait for one fetch."""
    root = cache_dir()
    lib = root / version / "lib"
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise BrokerError("Apache Kafka needs Java 17+ and Maven (apt-get install maven)")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (lib / ".complete").exists():
            return lib
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            (Path(tmp) / "pom.xml").write_text(_POM.format(version=version))
            cmd = [
                "mvn",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}/lib",
            ] + (["-q"] if quiet else [])
            done = subprocess.run(cmd, cwd=tmp, capture_output=quiet, text=True)
            if done.returncode != 0:
                tail = (done.stdout or "")[-2000:] if quiet else ""
                raise BrokerError(f"could not fetch Apache Kafka {version} with Maven:\n{tail}")
            shutil.rmtree(lib, ignore_errors=True)
            lib.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / "lib", lib)
        (lib / ".complete").touch()
    return lib


class KafkaBroker:
    """One KRaft node of Apache Kafka; `bootstrap` is its address. `data_dir` keeps its
    log directory (a fresh temporary one if not given), and `restart()` starts it again
    on the same port and data after `stop()` or `kill()`."""

    kind = "kafka"

    def __init__(
        self,
        port: int | None = None,
        log: Path | None = None,
        data_dir: Path | None = None,
        version: str = KAFKA_VERSION,
        heap: str = "512m",
    ) -> None:
        self.port = port or free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.version = version
        self._heap = heap
        self._tmp: tempfile.TemporaryDirectory | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="parcelwatch-kafka-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir)
        self._log = log or self.data_dir / "broker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        """server.properties: a single node that is its own controller. Offsets and
        transactions are replicated once (there is one broker); the log cleaner runs
        often and segments roll small, so a compacted changelog is seen to compact
        within a test."""
        logs = self.data_dir / "logs"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            # A broker restarted after kill -9 registers again once its old session has
            # expired: 3 s, not 9.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            "log.cleaner.backoff.ms": "1000",
            "log.cleaner.min.compaction.lag.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "auto.create.topics.enable": "true",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J)
        return path

    def _java(self, lib: Path, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self._heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{lib}/*",
            *args,
        ]

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        lib = fetch(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster = _cluster_id()
            formatted = subprocess.run(
                self._java(
                    lib, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)
                ),
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:
                raise BrokerError(
                    f"kafka-storage format failed: {formatted.stdout}{formatted.stderr}"
                )
        out = open(self._log, "ab")  # noqa: SIM115 - the process keeps it
        self._proc = subprocess.Popen(
            self._java(lib, "kafka.Kafka", str(config)),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._await_ready(timeout)
        return self

    def _await_ready(self, timeout: float) -> None:
        """Until the broker answers a metadata request (its port opens earlier)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"Apache Kafka exited with code {self._proc.returncode}; see {self._log}"
                )
            with contextlib.suppress(KafkaError, OSError, ValueError):
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"Apache Kafka did not answer on {self.bootstrap} within {timeout} s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash: the log directory stays as it was."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def restart(self, timeout: float = 90.0) -> KafkaBroker:
        self.stop()
        return self.start(timeout)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, 30)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cluster_id() -> str:
    """A KRaft cluster id as Kafka makes one: 16 random bytes, base64url, unpadded.

    Like Kafka's ``Uuid.randomUuid`` it never starts with "-": the storage tool's
    argument parser would read such an id as an option (one start in 64 failed).
    """
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster
