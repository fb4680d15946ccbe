import json
from importlib.resources import files
from pathlib import Path

import pytest

from parcelwatch.sim.generator import simulate_to_files
from tests.support.streams import SIM_START as START
from tests.support.streams import fast_config


@pytest.fixture(scope="session")
def faulty_run(tmp_path_factory, default_network):
    """A run with every fault frequent, replayed once for the whole session."""
    from parcelwatch.offline.replay import replay

    out = tmp_path_factory.mktemp("sim")
    config = fast_config(
        overdue_pickup=0.06,
        hub_stall=0.06,
        suppressed_scan=0.06,
        left_on_truck=0.06,
        damage=0.06,
        failed_delivery=0.08,
        misroute=0.06,
        lost=0.05,
        unmeetable_promise=0.06,
        out_for_delivery_no_outcome=0.06,
        truck_breakdown=0.05,
        gps_loss=0.05,
    )
    summary = simulate_to_files(
        default_network, 600, START, 1, 3, out / "events.jsonl", out / "truth.jsonl", config
    )
    replay(
        Path(str(files("parcelwatch") / "data" / "network.yaml")),
        out / "events.jsonl",
        out / "replay",
        until=summary.until,
    )
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    return out, summary, truth
