"""Hostile input through the live handlers (CONTRACT §7): the clock guard on both live
clocks, event id conflicts, tombstones. A refused record is a dead letter and moves no
clock: the other parcels' records are replay's."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from parcelwatch.detection.context import RuleContext
from parcelwatch.service.eventtime import SystemClock
from parcelwatch.service.handlers import VehicleHandler, WaybillHandler
from parcelwatch.service.settings import ServiceSettings, Topics
from parcelwatch.service.ticks import TickSource
from tests.support.harness import Harness


def _reasons(letters):
    return Counter(x["error"].split(":")[0] for x in letters)


def test_a_2099_ping_moves_no_watermark_and_the_records_are_replays(
    small_sim, default_network, tmp_path
):
    lines = (small_sim / "ev.jsonl").read_bytes().splitlines()
    ping = {
        "topic": "gps",
        "value": {
            "vehicle_id": "LH-X",
            "lat": 22.6,
            "lon": 114.0,
            "event_time": "2099-01-01T00:00:00+08:00",
        },
    }
    lines.insert(len(lines) // 3, json.dumps(ping).encode())
    source = tmp_path / "ev.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    harness = Harness(default_network)
    harness.run_lockstep(source)
    replay_file = small_sim / "replay" / "exceptions.jsonl"
    replayed = [json.loads(x) for x in replay_file.read_text().splitlines()]
    assert Counter((r["exception_id"], r["status"]) for r in harness.outputs["exceptions"]) == (
        Counter((r["exception_id"], r["status"]) for r in replayed)
    )
    baseline = (small_sim / "replay" / "dead_letters.jsonl").read_text().splitlines()
    letters = harness.outputs["dead_letters"]
    assert len(letters) == len(baseline) + 1
    assert _reasons(letters)["clock_jump"] == 1


def _wall_handlers(network):
    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        pass

    clock = SystemClock()
    ctx = RuleContext.create(network)
    topics = Topics.from_settings(ServiceSettings())
    ticks = TickSource(lambda: None, send)
    return (
        WaybillHandler(ctx, topics, clock, ticks, {}),
        VehicleHandler(ctx, topics, clock, ticks, {}),
        topics,
    )


def _letters(out, topics):
    return [json.loads(v) for topic, _, v in out if topic == topics.dead_letters]


@pytest.mark.parametrize(("minutes", "refused"), [(10, False), (20, True), (60 * 24 * 365, True)])
def test_on_the_wall_clock_a_record_from_the_future_is_refused(default_network, minutes, refused):
    waybills, vehicles, t = _wall_handlers(default_network)
    when = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    scan = {
        "event_id": "E1",
        "waybill_no": "SF1",
        "facility_id": "CS-FR",
        "event_time": when,
        "scan_type": "DAMAGE_REPORTED",
        "reason": "MAJOR",
    }
    ping = {"vehicle_id": "V1", "event_time": when, "lat": 22.6, "lon": 114.0}
    outs = [
        waybills.handle(t.scans, 0, b"SF1", json.dumps(scan).encode()),
        vehicles.handle(t.gps, 0, b"V1", json.dumps(ping).encode()),
    ]
    for out in outs:
        letters = _letters(out, t)
        assert [x["error"].split(":")[0] for x in letters] == (["future"] if refused else [])
    assert (b"SF1" in waybills.table) is not refused
    assert (b"V1" in vehicles.table) is not refused


def test_a_conflicting_event_id_is_a_dead_letter_live_too(default_network):
    waybills, _, t = _wall_handlers(default_network)
    now = datetime.now(UTC)
    when = (now - timedelta(minutes=5)).isoformat()
    scan = {
        "event_id": "E1",
        "waybill_no": "SF1",
        "facility_id": "CS-FR",
        "event_time": when,
        "scan_type": "PICKUP",
    }
    assert _letters(waybills.handle(t.scans, 0, b"SF1", json.dumps(scan).encode()), t) == []
    again = waybills.handle(t.scans, 0, b"SF1", json.dumps(scan).encode())
    assert again == []  # a redelivery: nothing at all
    damage = {**scan, "scan_type": "DAMAGE_REPORTED", "reason": "DESTROYED"}
    letters = _letters(waybills.handle(t.scans, 0, b"SF1", json.dumps(damage).encode()), t)
    assert [x["error"].split(":")[0] for x in letters] == ["event_id_conflict"]


@pytest.mark.parametrize("key", [b"SF1", None])
def test_a_tombstone_is_a_dead_letter_not_a_crash(default_network, key):
    waybills, vehicles, t = _wall_handlers(default_network)
    for handler, topic in ((waybills, t.scans), (vehicles, t.gps)):
        letters = _letters(handler.handle_safely(topic, 0, key, None), t)
        assert [x["error"] for x in letters] == ["tombstone: no value"]
        assert letters[0]["raw"] == ""
    counted = waybills.metrics.registry.get_sample_value(
        "parcelwatch_dead_letters_total", {"topic": "scans", "reason": "tombstone"}
    )
    assert counted == 1


def test_a_gps_batch_is_its_pings_and_one_bad_ping_refuses_it_whole(default_network):
    _, vehicles, t = _wall_handlers(default_network)
    now = datetime.now(UTC)
    pings = [
        {"event_time": (now - timedelta(minutes=m)).isoformat(), "lat": 23.0, "lon": 114.0}
        for m in (20, 30, 10)
    ]
    bad = {**pings[0], "event_time": (now + timedelta(hours=2)).isoformat()}
    batch = {"vehicle_id": "V1", "pings": [*pings, bad]}
    refused = vehicles.handle(t.gps, 0, b"V1", json.dumps(batch).encode())
    assert [x["error"].split(":")[0] for x in _letters(refused, t)] == ["future"]
    assert b"V1" not in vehicles.table
    batch = {"vehicle_id": "V1", "pings": pings}
    facts = vehicles.handle(t.gps, 0, b"V1", json.dumps(batch).encode())
    assert [(topic, json.loads(v)[1]) for topic, _, v in facts] == [(t.facts, "OK")]  # tracked
    from parcelwatch.clock import to_us
    from parcelwatch.detection.codec import load_vehicle

    state = load_vehicle(vehicles.table[b"V1"])
    assert state.last_ping_at == to_us(now - timedelta(minutes=10))  # the latest, not the last sent
