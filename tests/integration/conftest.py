"""The integration tests' broker (one per kind and session: the embedded Tansu, or
Apache Kafka with `--broker kafka`) and helpers to run a worker process on it and read
its output topics."""

import subprocess
import time
from pathlib import Path

import pytest

from parcelwatch.devtools.brokers import worker_fields
from parcelwatch.devtools.brokers.kafka import KafkaBroker
from parcelwatch.devtools.brokers.tansu import EmbeddedBroker
from parcelwatch.service.clients import tail
from parcelwatch.service.runner import app_settings, spawn_worker
from parcelwatch.service.settings import ServiceSettings


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that takes `broker` runs on each kind `--broker` names."""
    if "broker" in metafunc.fixturenames:
        kinds = metafunc.config.getoption("broker")
        kinds = ["tansu", "kafka"] if kinds == "all" else [kinds]
        metafunc.parametrize("broker", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def broker(request, tmp_path_factory):
    if request.param == "kafka":
        with KafkaBroker(data_dir=tmp_path_factory.mktemp("kafka")) as running:
            yield running
    else:
        with EmbeddedBroker() as running:
            yield running


def settings_for(broker, app_id: str) -> ServiceSettings:
    """Each test has topics of its own: the broker is shared by the session."""
    return app_settings(broker.bootstrap, app_id, partitions=4, **worker_fields(broker.kind))


def start_worker(
    broker,
    tmp_path: Path,
    network_file: Path,
    app_id: str = "parcelwatch",
    log: str = "worker.log",
    store: str = "memory://",
    data: str = "data",
    clock: str = "event",
    **fields,
) -> subprocess.Popen:
    """A worker for `app_id`'s topics, on the event clock unless told (metrics on any
    free port unless `metrics_port` is given)."""
    settings = app_settings(
        broker.bootstrap,
        app_id,
        partitions=4,
        clock=clock,
        store=store,
        data_dir=str(tmp_path / data),  # a restarted worker finds its RocksDB tables here
        network_file=str(network_file),
        **{"metrics_port": 0, **worker_fields(broker.kind), **fields},
    )
    return spawn_worker(settings, tmp_path / log)


def collect(settings, bootstrap, logical, want, timeout=120):
    """The records of an output topic, once there are `want` of them (or at the timeout)."""
    deadline = time.monotonic() + timeout
    records = []
    while time.monotonic() < deadline:
        records = list(tail(settings, bootstrap, logical, True, None, 3))
        if len(records) >= want:
            return records
        time.sleep(2)
    return records


def await_replay(settings, bootstrap: str, expected: set, timeout=240) -> tuple[set, list]:
    """The exception events on the topic, as (id, type, status) and as records, once they
    include `expected` (and a little longer: anything extra would come then) or at the
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        records = collect(settings, bootstrap, "exceptions", 0, timeout=5)
        got = {(r["exception_id"], r["type"], r["status"]) for r in records}
        if got >= expected:
            time.sleep(5)
            records = collect(settings, bootstrap, "exceptions", 0, timeout=5)
            return {(r["exception_id"], r["type"], r["status"]) for r in records}, records
        if time.monotonic() > deadline:
            return got, records
        time.sleep(3)


def await_committed(admin, app_id: str, topics: set[str], count: int, what: str) -> None:
    """Until the group has processed and committed `count` records of `topics`."""
    from parcelwatch.service.clients import committed

    deadline = time.monotonic() + 90
    while committed(admin, app_id, topics) < count:
        assert time.monotonic() < deadline, f"{what} never committed"
        time.sleep(1)
