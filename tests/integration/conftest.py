"""The integration tests' broker (one per kind and session: the embedded Tansu, or
Apache Kafka with `--broker kafka`) and helpers to run a worker process on it and read
its output topics."""

import pytest

from parcelwatch.devtools.brokers.kafka import KafkaBroker
from parcelwatch.devtools.brokers.tansu import EmbeddedBroker


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
