"""The simulator: determinism, realism, faults and their labels."""

import json
from collections import Counter

import pytest

from parcelwatch.schemas import INPUT_MODELS
from parcelwatch.sim.generator import simulate_to_files
from tests.support.streams import SIM_START as START
from tests.support.streams import fast_config


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
        except (ValueError, KeyError, TypeError, AssertionError):  # malformed on purpose
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
    from parcelwatch.sim.config import SimConfig

    path = tmp_path / "rates.yaml"
    path.write_text("faults: {damage: 2}\n")
    with pytest.raises(ValueError, match="damage"):
        SimConfig.load(path)


def test_gps_batches_carry_the_same_pings_later_and_replay_reads_them(
    tmp_path, default_network, default_network_path
):
    """--gps-batch 10: every ping of the one-by-one stream, uploaded ten at a time per
    truck (fewer at a trip's end) when the last of them is taken; nothing else moves."""
    from parcelwatch.offline.replay import replay

    streams = {}
    for batch in (1, 10):
        config = fast_config(truck_breakdown=0.2).model_copy(update={"gps_batch": batch})
        events = tmp_path / f"e{batch}.jsonl"
        simulate_to_files(default_network, 60, START, 0.3, 9, events, tmp_path / "t", config)
        streams[batch] = events.read_text().splitlines()

    def gps(lines):
        return [json.loads(x) for x in lines if x.startswith('{"topic":"gps"')]

    def others(lines):  # orders, scans and the malformed lines the noise adds
        return [x for x in lines if not x.startswith('{"topic":"gps"')]

    assert others(streams[1]) == others(streams[10])
    single, batched = gps(streams[1]), gps(streams[10])

    def pings(records, flatten):
        out: dict[str, list] = {}
        for r in records:
            if r["topic"] == "gps":
                v = r["value"]
                for p in v["pings"] if flatten else [v]:
                    out.setdefault(v["vehicle_id"], []).append(
                        (p["event_time"], p["lat"], p["lon"])
                    )
        return out

    assert pings(batched, True) == pings(single, False)
    sizes = [len(r["value"]["pings"]) for r in batched]
    assert max(sizes) == 10 and min(sizes) >= 1 and sum(s == 10 for s in sizes) > len(sizes) / 2
    for r in batched:
        times = [p["event_time"] for p in r["value"]["pings"]]
        assert times == sorted(times) and r["key"] == r["value"]["vehicle_id"]

    summary = replay(default_network_path, tmp_path / "e10.jsonl", tmp_path / "out")
    letters = [
        json.loads(x) for x in (tmp_path / "out" / "dead_letters.jsonl").read_text().splitlines()
    ]
    assert [x for x in letters if x["source_topic"] == "gps"] == []
    assert summary.records > 0
