"""The live handlers (decode, state in a table, core, ticks, cross-side messages)
against replay, in-process: a live pipeline that keeps up gives the replay's records."""

import json
from collections import Counter

import pytest
from conftest import SIM_START as START
from conftest import fast_config

from stream.replay import replay
from stream.sim.generator import simulate_to_files

from .harness import Harness


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory, default_network, default_network_path):
    out = tmp_path_factory.mktemp("live")
    config = fast_config(damage=0.1, hub_stall=0.1, left_on_truck=0.1, truck_breakdown=0.2)
    config.noise.late_upload = 0.0
    simulate_to_files(
        default_network, 60, START, 0.2, 21, out / "ev.jsonl", out / "t.jsonl", config
    )
    replay(default_network_path, out / "ev.jsonl", out / "replay")
    return out


def _keys(records):
    return Counter((r["exception_id"], r["type"], r["status"]) for r in records)


def test_lockstep_live_logic_gives_the_replay_records(small_sim, default_network):
    harness = Harness(default_network)
    harness.run_lockstep(small_sim / "ev.jsonl")
    expected = [
        json.loads(x) for x in (small_sim / "replay" / "exceptions.jsonl").read_text().splitlines()
    ]
    assert len(expected) > 20
    assert _keys(harness.outputs["exceptions"]) == _keys(expected)
    tickets = [
        json.loads(x) for x in (small_sim / "replay" / "tickets.jsonl").read_text().splitlines()
    ]
    assert {t["ticket_id"] for t in harness.outputs["tickets"]} == {t["ticket_id"] for t in tickets}
    letters = (small_sim / "replay" / "dead_letters.jsonl").read_text().splitlines()
    assert len(harness.outputs["dead_letters"]) == len(letters)


@pytest.mark.parametrize(
    ("vehicle_batch", "waybill_batch"),
    [(10**9, 1), (1, 10**9), (50, 7)],
    ids=["vehicles-ahead", "waybills-ahead", "interleaved"],
)
def test_a_backlog_read_unevenly_gives_the_replay_records(
    small_sim, default_network, vehicle_batch, waybill_batch
):
    """The whole file is on the topics before either side starts, and one side reads far
    ahead of the other: marks, held scans and boarding acks keep replay's order."""
    harness = Harness(default_network, idle_s=3600)
    harness.load(small_sim / "ev.jsonl")
    harness.run_to_end(vehicle_batch, waybill_batch)
    expected = [
        json.loads(x) for x in (small_sim / "replay" / "exceptions.jsonl").read_text().splitlines()
    ]
    assert _keys(harness.outputs["exceptions"]) == _keys(expected)


def test_wrongly_keyed_records_are_rekeyed_not_processed(default_network):
    harness = Harness(default_network)
    scan = {"event_id": "e1", "waybill_no": "W1", "facility_id": "SZ-HUB",
            "event_time": "2026-11-20T09:00:00+08:00", "scan_type": "HUB_ARRIVAL"}  # fmt: skip
    out = harness.waybills.handle(harness.topics.scans, 0, b"WRONG", json.dumps(scan).encode())
    assert out == [(harness.topics.scans, b"W1", json.dumps(scan).encode())]
    assert harness.waybills.table == {}


def test_bad_records_become_dead_letters_with_the_key(default_network):
    harness = Harness(default_network)
    out = harness.waybills.handle(harness.topics.scans, 0, b"K1", b"{not json")
    ((topic, key, value),) = out
    letter = json.loads(value)
    assert topic == harness.topics.dead_letters and key == b"K1"
    assert letter["key"] == "K1" and letter["error"].startswith("decode") and "line" not in letter
