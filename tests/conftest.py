"""Shared fixtures: a small network, a builder for replay streams, and a helper that runs
`parcelwatch replay` for real (files in, files out) and reads the results back."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from parcelwatch.detection.context import RuleContext
from parcelwatch.network.graph import Network
from parcelwatch.offline.replay import replay
from tests.support.processes import descendants
from tests.support.streams import (
    NETWORK_YAML,
    SIM_START,
    Events,
    Outputs,
    at,
    fast_config,
    read_outputs,
)


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """The session ends with no worker or broker of its own still running: one left
    behind fails the run (and is killed), instead of running for hours after it."""
    yield
    deadline = time.monotonic() + 10  # what was just told to stop may still be exiting
    while (left := descendants(os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running by the tests: {left}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=("tansu", "kafka", "all"),
        default="tansu",
        help="the broker the integration tests run on: the embedded Tansu (default), "
        "Apache Kafka (`make test-kafka`: fetched from Maven Central once), or both",
    )


@pytest.fixture(scope="session")
def network_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "network.yaml"
    path.write_text(NETWORK_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def network() -> Network:
    return Network.from_yaml_text(NETWORK_YAML)


@pytest.fixture
def ctx(network: Network) -> RuleContext:
    return RuleContext.create(network)


@pytest.fixture
def run(tmp_path: Path, network_file: Path):
    """run(events, until_hours=None, config=None) -> Outputs, through the real replay."""
    counter = itertools.count()

    def _run(
        events: Events, until: float | None = None, config: dict[str, Any] | None = None
    ) -> Outputs:
        n = next(counter)
        source = events.write(tmp_path / f"events-{n}.jsonl")
        config_path = None
        if config is not None:
            config_path = tmp_path / f"config-{n}.json"
            config_path.write_text(json.dumps(config), encoding="utf-8")
        out = tmp_path / f"out-{n}"
        replay(
            network_file,
            source,
            out,
            until=at(until) if until is not None else None,
            config=config_path,
        )
        return read_outputs(out)

    return _run


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture(scope="session")
def default_network_path() -> Path:
    from importlib.resources import files

    return Path(str(files("parcelwatch") / "data" / "network.yaml"))


@pytest.fixture(scope="session")
def default_network(default_network_path) -> Network:
    return Network.load(default_network_path)


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory, default_network, default_network_path) -> Path:
    """60 simulated parcels with many faults (ev.jsonl), and replay's outputs (replay/)."""
    from parcelwatch.sim.generator import simulate_to_files

    out = tmp_path_factory.mktemp("live")
    config = fast_config(damage=0.1, hub_stall=0.1, left_on_truck=0.1, truck_breakdown=0.2)
    config.noise.late_upload = 0.05  # scanners that upload hours late: out of order input
    simulate_to_files(
        default_network, 60, SIM_START, 0.2, 21, out / "ev.jsonl", out / "t.jsonl", config
    )
    replay(default_network_path, out / "ev.jsonl", out / "replay")
    return out


@pytest.fixture(scope="session")
def month_sim(tmp_path_factory, default_network, default_network_path) -> Path:
    """30 days of parcels (20 a day, trucks pinging every 30 minutes; ev.jsonl), and
    replay's outputs (replay/): long enough for finished parcels to be forgotten."""
    from parcelwatch.sim.config import SimConfig
    from parcelwatch.sim.generator import simulate_to_files

    out = tmp_path_factory.mktemp("month")
    config = SimConfig()
    config.ping_seconds = (1800.0, 1800.0)
    simulate_to_files(
        default_network, 600, SIM_START, 30, 3, out / "ev.jsonl", out / "t.jsonl", config, False
    )
    replay(default_network_path, out / "ev.jsonl", out / "replay")
    return out
