"""Development brokers: the embedded Tansu and Apache Kafka on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from parcelwatch.devtools.brokers.kafka import KafkaBroker
from parcelwatch.devtools.brokers.tansu import EmbeddedBroker
from parcelwatch.service.settings import ServiceSettings


@contextlib.contextmanager
def bootstrap_servers(
    settings: ServiceSettings, log: Path | None = None
) -> Iterator[tuple[str, bool]]:
    """(bootstrap, embedded): the configured cluster, or a fresh embedded broker."""
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers, False
        return
    with EmbeddedBroker(log=log) as broker:
        yield broker.bootstrap, True


class Broker(Protocol):
    """What the demo, the bench and the tests need of a broker they start."""

    kind: str
    bootstrap: str

    @property
    def data_dir(self) -> Path | None:
        """Where the broker keeps its log, None when in memory."""

    def __enter__(self) -> Broker: ...
    def __exit__(self, *exc: object) -> None: ...


BrokerKind = Literal["tansu", "kafka"]


def open_broker(
    kind: BrokerKind, log: Path | None = None, port: int | None = None, data_dir: Path | None = None
) -> Broker:
    """An unstarted broker of `kind` (a context manager): the embedded Tansu, or Apache
    Kafka (fetched from Maven Central on first use; see parcelwatch/devtools/brokers/kafka.py)."""
    if kind == "kafka":
        return KafkaBroker(port=port, log=log, data_dir=data_dir)
    return EmbeddedBroker(port=port, log=log)


def worker_fields(kind: str) -> dict[str, Any]:
    """Worker settings a broker of `kind` needs: Tansu's work-arounds, or one replica of
    each topic on a single Apache Kafka node (and the shortest session Kafka allows by
    default, so that a killed worker's partitions move on within seconds)."""
    if kind == "tansu":
        return {"tansu": True}
    return {"replication_factor": 1, "session_timeout_s": 6.0}
