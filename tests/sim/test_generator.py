"""The simulator: determinism, realism, faults and their labels."""

import json
from collections import Counter

import pytest
from conftest import SIM_START as START
from conftest import fast_config

from stream.schemas import INPUT_MODELS
from stream.sim.generator import simulate_to_files


def test_same_seed_same_files(tmp_path, default_network):
    for n in range(2):
        simulate_to_files(
            default_network, 80, START, 1, 42, tmp_path / f"e{n}", tmp_path / f"t{n}", fast_config()
        )
    assert (tmp_path / "e0").read_bytes() == (tmp_path / "e1").read_bytes()
    assert (tmp_path / "t0").read_bytes() == (tmp_path / "t1").read_bytes()
    simulate_to_files(
        default_network, 80, START, 1, 43, tmp_path / "e2", tmp_path / "t2", fast_config()
    )
    assert (tmp_path / "e2").read_bytes() != (tmp_path / "e0").read_bytes()


def test_records_are_valid_and_in_arrival_order(faulty_run, default_network):
    out, summary, _ = faulty_run
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary.records
    bad = 0
    topics = Counter()
    for line in lines:
        try:
            record = json.loads(line)
            INPUT_MODELS[record["topic"]].model_validate(record["value"])
            facility = record["value"].get("facility_id")
            assert facility is None or facility in default_network
            topics[record["topic"]] += 1
        except Exception:
            bad += 1
    assert bad == summary.malformed
    assert topics["waybills"] == 600
    assert topics["gps"] == summary.pings and topics["scans"] > summary.scans  # + redeliveries
    dead = (out / "replay" / "dead_letters.jsonl").read_text().splitlines()
    assert len(dead) == summary.malformed


def test_trucks_carry_many_parcels(tmp_path, default_network):
    # 2000 parcels in six hours: the rate of 8000 a day, still small for a national network.
    simulate_to_files(
        default_network, 2000, START, 0.25, 9, tmp_path / "e", tmp_path / "t", fast_config()
    )
    per_vehicle = Counter()
    for line in (tmp_path / "e").read_text(encoding="utf-8").splitlines():
        if '"scan_type":"LOAD"' in line and "-HUB-" in line:
            per_vehicle[json.loads(line)["value"]["vehicle_id"]] += 1
    linehaul = [n for v, n in per_vehicle.items() if v.count("HUB") == 2]
    assert max(linehaul) >= 30
    assert sum(linehaul) / len(linehaul) >= 3


def test_every_fault_kind_is_produced_and_labelled(faulty_run):
    _, _, truth = faulty_run
    causes = Counter(r["cause"] for r in truth if r["kind"] == "label")
    for fault in (
        "overdue_pickup",
        "hub_stall",
        "suppressed_scan",
        "left_on_truck",
        "damage",
        "failed_delivery",
        "misroute",
        "lost",
        "unmeetable_promise",
        "out_for_delivery_no_outcome",
    ):
        assert causes[fault] > 0, fault
    types = {r["type"] for r in truth if r["kind"] == "label"}
    assert types == {
        "PICKUP_OVERDUE",
        "MISSED_SCAN",
        "STALLED_AT_FACILITY",
        "STALLED_IN_TRANSIT",
        "DELAY_PREDICTED",
        "DELAYED",
        "LOST_SUSPECTED",
        "DAMAGED",
        "DELIVERY_FAILED",
        "MISROUTED",
    }
    assert any(r["kind"] == "quiet" for r in truth)
    assert truth[-1]["kind"] == "meta"


@pytest.mark.parametrize(
    ("fault", "label_type"),
    [("damage", "DAMAGED"), ("failed_delivery", "DELIVERY_FAILED"), ("misroute", "MISROUTED")],
)
def test_rates_are_honoured(tmp_path, default_network, fault, label_type):
    n = 1500
    simulate_to_files(
        default_network, n, START, 1, 5, tmp_path / "e", tmp_path / "t", fast_config(**{fault: 0.1})
    )
    labelled = {
        r["waybill_no"]
        for r in map(json.loads, (tmp_path / "t").read_text().splitlines())
        if r["kind"] == "label" and r["type"] == label_type and r["cause"] == fault
    }
    # Misroutes need a hub with a wrong neighbour, so a few draws fall back to no fault.
    assert 0.07 * n <= len(labelled) <= 0.13 * n


def test_bad_rates_file_is_refused(tmp_path):
    from stream.sim.config import SimConfig

    path = tmp_path / "rates.yaml"
    path.write_text("faults: {damage: 2}\n")
    with pytest.raises(ValueError, match="damage"):
        SimConfig.load(path)
