"""The core wired together (what replay runs): state stays bounded on a long stream."""

import json

from parcelwatch.clock import HOUR
from parcelwatch.detection.detector import Detector
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.edge.files import read_replay_file
from parcelwatch.edge.intake import decode
from tests.support.streams import Events, feed

WEEK = 7 * 24 * HOUR


def _fed(network, lines) -> Detector:
    detector = Detector(network)
    for line in lines:
        envelope = json.loads(line)
        feed(detector, decode(envelope["topic"], json.dumps(envelope["value"]).encode(), network))
    return detector


def test_a_delivered_parcel_is_forgotten_a_week_later_and_a_later_scan_starts_afresh(network):
    delivered = 17 * HOUR  # journey() delivers at 17 h
    detector = _fed(network, Events().waybill(promised=200).journey().lines)
    start = detector.clock.now - delivered
    detector.advance(start + delivered + WEEK - 1)
    assert "WB1" in detector.waybills
    detector.advance(start + delivered + WEEK)
    assert "WB1" not in detector.waybills
    # A scan of it now is that of a parcel never seen: no order, one scan.
    feed(
        detector,
        decode(
            "scans",
            json.dumps(
                json.loads(
                    Events().scan("HUB_ARRIVAL", "C-OUT", 17 + 7 * 24 + 3, event_id="late").lines[0]
                )["value"]
            ).encode(),
            network,
        ),
    )
    w = detector.waybills["WB1"]
    assert not w.registered and len(w.events) == 2 and w.terminal is None


def test_an_open_damaged_episode_keeps_a_delivered_parcel(network):
    events = Events().waybill(promised=200).journey()
    events.lines.insert(
        3, Events().scan("DAMAGE_REPORTED", "A-HUB", 3.5, event_id="dmg", reason="MAJOR").lines[0]
    )
    detector = _fed(network, events.lines)
    detector.advance(detector.clock.now + 30 * 24 * HOUR)
    w = detector.waybills["WB1"]
    assert w.terminal == "DELIVERED" and set(w.episodes) == {"DAMAGED"}


def test_a_silent_vehicle_is_forgotten_a_week_after_its_last_ping(network):
    events = Events().gps("T9", 1, 24.0, 114.0)
    detector = _fed(network, events.lines)
    detector.advance(detector.clock.now + WEEK - HOUR)
    assert detector.vehicles["T9"].status == "SILENT"
    detector.advance(detector.clock.now + HOUR)
    assert "T9" not in detector.vehicles


def test_a_month_keeps_the_parcels_of_the_last_week(month_sim, default_network):
    """30 days of parcels: what is kept is unfinished, still has an open exception, or
    finished within the week; vehicles heard from within the week."""
    detector = Detector(default_network)
    for logical, _, value, _ in read_replay_file(month_sim / "ev.jsonl"):
        try:
            record = decode(logical, value, default_network)
        except InvalidRecord:  # the simulator's malformed lines: dead letters in replay
            continue
        feed(detector, record)
    now = detector.clock.now
    parcels = {
        r["waybill_no"]
        for r in map(json.loads, (month_sim / "t.jsonl").open())
        if "waybill_no" in r
    }
    kept = detector.waybills.values()
    assert len(parcels) >= 300 and len(kept) < len(parcels) / 3  # most were forgotten
    for w in kept:
        assert w.terminal_at is None or w.episodes or now - w.terminal_at < WEEK, w.waybill_no
    assert sum(w.terminal_at is not None for w in kept) > 20  # the last week's are kept
    for v in detector.vehicles.values():
        assert now - v.last_ping_at < WEEK, v.vehicle_id
