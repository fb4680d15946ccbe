import subprocess
import sys

import pytest
import yaml

from parcelwatch.network.graph import Network
from parcelwatch.offline.calibrate import (
    HOUR_US,
    CalibrateError,
    calibrate,
    last_mile_samples,
    learn_last_mile,
)
from parcelwatch.offline.replay import ReplayError, replay
from tests.support.streams import Events, at, read_outputs, utc

H = HOUR_US


def test_each_outlet_gets_its_own_quantile_with_enough_deliveries():
    samples = {"A-OUT": [1 * H, 2 * H, 3 * H, 4 * H], "C-OUT": [H // 2] * 4}
    learned = learn_last_mile(samples, ["A-OUT", "C-OUT"], quantile=0.5, min_samples=4)
    assert learned.hours == {"A-OUT": 2.0, "C-OUT": 0.5}  # nearest rank: a real value
    assert learned.own == {"A-OUT", "C-OUT"}
    assert learned.samples == 8


def test_a_sparse_or_unseen_outlet_gets_the_pooled_figure():
    samples = {"A-OUT": [1 * H, 2 * H, 3 * H], "C-OUT": [4 * H]}
    learned = learn_last_mile(samples, ["A-OUT", "C-OUT", "D-OUT"], 0.75, min_samples=3)
    # pooled: 1, 2, 3, 4 h -> 3 h at 0.75; A-OUT its own 1, 2, 3 -> 3 h
    assert learned.hours == {"A-OUT": 3.0, "C-OUT": 3.0, "D-OUT": 3.0}
    assert learned.own == {"A-OUT"}
    assert learned.pooled_hours == 3.0


def test_nothing_to_learn_from_or_a_bad_quantile_is_an_error():
    with pytest.raises(CalibrateError, match="no OUT_FOR_DELIVERY"):
        learn_last_mile({}, ["A-OUT"])
    with pytest.raises(CalibrateError, match="quantile"):
        learn_last_mile({"A-OUT": [H]}, ["A-OUT"], quantile=0)


def test_samples_pair_the_last_round_with_delivery_at_the_same_outlet(tmp_path, network_file):
    events = Events()
    # WB1: a failed round, then a second one 2.5 h before delivery: only the second counts
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 15).scan("DELIVERY_FAILED", "C-OUT", 16)
    events.scan("DELIVERED", "C-OUT", 26.5).scan("OUT_FOR_DELIVERY", "C-OUT", 24)  # late upload
    # WB2: delivered somewhere else than it went out from: no sample
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 15, no="WB2").scan("DELIVERED", "A-OUT", 16, no="WB2")
    # WB3: delivered with no round seen: no sample
    events.scan("DELIVERED", "A-OUT", 5, no="WB3")
    events.raw('{"topic": "scans", "value": {"waybill_no": 1}}').raw("not json")
    samples = last_mile_samples(events.write(tmp_path / "h.jsonl"), Network.load(network_file))
    assert samples == {"C-OUT": [int(2.5 * H)]}


def test_calibrated_settings_refine_the_eta_and_not_the_derived_promise(tmp_path, network_file):
    """End to end: calibrate a history, replay with the file it wrote. The ETA of a parcel
    out for delivery is its round + the learned hours; a promise derived for a waybill
    without one keeps the contract's 4 h."""
    history = Events()
    for i in range(40):
        history.scan("OUT_FOR_DELIVERY", "C-OUT", 10, no=f"H{i}")
        history.scan("DELIVERED", "C-OUT", 11.5, no=f"H{i}")
    settings = tmp_path / "calibrated.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "parcelwatch",
            "calibrate",
            "--network",
            str(network_file),
            "--input",
            str(history.write(tmp_path / "history.jsonl")),
            "--out",
            str(settings),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    learned = yaml.safe_load(settings.read_text(encoding="utf-8"))["last_mile_learned_hours"]
    assert learned["C-OUT"] == 1.5
    assert learned["A-OUT"] == 1.5  # no deliveries of its own: pooled

    # Promised 16 h; out for delivery at 15 h: the plan's 4 h says 19 h (late), the
    # learned 1.5 h says 16.5 h, within promise + 30 min.
    # (The order arrives after the round went out: the plan is judged from there.)
    events = Events().scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "C-OUT", 13)
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 15).waybill(promised=16)
    events.waybill("WB2", promised=None).scan("PICKUP", "A-OUT", 1, no="WB2")
    replay(network_file, events.write(tmp_path / "e.jsonl"), tmp_path / "plain", until=at(15.9))
    replay(
        network_file,
        events.write(tmp_path / "e.jsonl"),
        tmp_path / "cal",
        until=at(62),
        config=settings,
    )
    plain = read_outputs(tmp_path / "plain")
    (warned,) = plain.of("DELAY_PREDICTED", "WB1")
    assert warned["evidence"]["eta"] == utc(19)
    calibrated = read_outputs(tmp_path / "cal")
    assert calibrated.of("DELAY_PREDICTED", "WB1") == []
    (late,) = calibrated.of("DELAYED", "WB2")
    assert late["evidence"]["promised_at"] == utc(60)  # 24 h plan with the 4 h last mile + 36 h


def test_learned_hours_for_a_hub_or_an_unknown_facility_are_refused(tmp_path, network_file):
    for fid, what in (("A-HUB", "a hub"), ("NOWHERE", "not in the network")):
        config = tmp_path / f"{fid}.yaml"
        config.write_text(f"last_mile_learned_hours: {{{fid}: 2}}\n", encoding="utf-8")
        with pytest.raises(ReplayError, match=what):
            replay(
                network_file, Events().write(tmp_path / "e.jsonl"), tmp_path / "o", config=config
            )


def test_calibrate_reads_the_simulators_stream(tmp_path, default_network):
    """On the simulator's own stream the learned last mile is its courier rounds': 0.5-4 h
    after going out, so the median lies near the middle, far below the plan's 4 h."""
    from datetime import datetime

    from parcelwatch.sim.generator import simulate_to_files

    events = tmp_path / "ev.jsonl"
    start = datetime.fromisoformat("2026-11-11T00:00:00+08:00")
    simulate_to_files(default_network, 300, start, 0.5, 3, events, tmp_path / "truth.jsonl")
    calibration = calibrate(events, default_network, min_samples=1000)
    learned = calibration.last_mile
    assert 1.8 <= learned.pooled_hours <= 2.7
    assert learned.samples > 200
    assert learned.own == set()
    assert calibration.expected is None  # fewer than 1000 pickups: nothing to learn
    expected = calibrate(events, default_network, min_samples=30).expected
    assert expected is not None
    # The simulator picks up 0.5-4 h after the order, and sends a courier out for
    # 0.5-4 h: their learned middles lie near 2.25 h.
    assert 1.6 <= expected.pickup_hours[4] <= 2.9
    assert 1.6 <= expected.last_mile_hours["*"][4] <= 2.9
    # Connections with more slack are missed less often.
    shares = [here for _, here, _ in expected.missed_by_slack]
    assert shares[0] > shares[-1]
