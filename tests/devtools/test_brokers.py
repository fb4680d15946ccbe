"""devtools/brokers/kafka.py without starting Java: the broker's configuration, the cache,
and a clear error where Java or Maven is missing. (Starting, kill -9 and restart are
the integration tests' broker: tests/integration/test_broker_faults.py.)"""

import base64
import uuid

import pytest

from parcelwatch.devtools.brokers import kafka as kafka_server
from parcelwatch.devtools.brokers.kafka import KafkaBroker, cache_dir, fetch
from parcelwatch.devtools.brokers.process import BrokerError


def test_a_single_kraft_node_on_loopback_with_its_own_log_directory(tmp_path):
    broker = KafkaBroker(data_dir=tmp_path)
    props = dict(line.split("=", 1) for line in broker._config().read_text().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == (
        f"PLAINTEXT://127.0.0.1:{broker.port},CONTROLLER://127.0.0.1:{broker.controller_port}"
    )
    assert props["advertised.listeners"] == f"PLAINTEXT://{broker.bootstrap}"
    assert props["log.dirs"] == str(tmp_path / "logs")
    assert props["offsets.topic.replication.factor"] == "1"  # one broker: one replica
    assert props["transaction.state.log.min.isr"] == "1"  # transactions work on one node
    assert broker.port != broker.controller_port


def test_cluster_ids_are_kafkas_form():
    cluster = kafka_server._cluster_id()
    assert len(cluster) == 22 and len(base64.urlsafe_b64decode(cluster + "==")) == 16
    assert kafka_server._cluster_id() != cluster


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    """kafka-storage's parser reads "-t -abc" as a missing value: CI failed on one."""
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64url "-A..."
    plain = uuid.UUID(bytes=bytes(16))
    made = iter([dash_first, dash_first, plain])
    monkeypatch.setattr(kafka_server.uuid, "uuid4", lambda: next(made))
    assert kafka_server._cluster_id() == "A" * 22


def test_the_cache_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("PARCELWATCH_KAFKA_CACHE", str(tmp_path / "k"))
    assert cache_dir() == tmp_path / "k"
    monkeypatch.delenv("PARCELWATCH_KAFKA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "parcelwatch" / "kafka"


def test_a_cached_broker_is_not_fetched_again(monkeypatch, tmp_path):
    monkeypatch.setenv("PARCELWATCH_KAFKA_CACHE", str(tmp_path))
    lib = tmp_path / "9.9.9" / "lib"
    lib.mkdir(parents=True)
    (lib / ".complete").touch()
    monkeypatch.setattr(kafka_server.shutil, "which", lambda _: None)  # no Maven needed
    assert fetch("9.9.9") == lib


def test_without_java_or_maven_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PARCELWATCH_KAFKA_CACHE", str(tmp_path))
    monkeypatch.setattr(kafka_server.shutil, "which", lambda _: None)
    with pytest.raises(BrokerError, match="Java 17\\+ and Maven"):
        fetch("9.9.9")
