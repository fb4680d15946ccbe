"""Ordering, redelivery and registration behaviour of the waybill side."""

import random

from conftest import Events


def test_redelivered_scans_change_nothing(run):
    clean = Events().waybill(promised=200)
    noisy = Events().waybill(promised=200)
    clean.scan("PICKUP", "A-OUT", 1, event_id="p").scan(
        "DELIVERY_FAILED", "A-OUT", 2, event_id="f", reason="OTHER"
    )
    noisy.scan("PICKUP", "A-OUT", 1, event_id="p")
    for _ in range(3):
        noisy.scan("DELIVERY_FAILED", "A-OUT", 2, event_id="f", reason="OTHER")
        noisy.scan("PICKUP", "A-OUT", 1, event_id="p")
    assert run(noisy, until=5) == run(clean, until=5)
    out = run(noisy, until=5)
    assert out.statuses("DELIVERY_FAILED") == ["OPEN"]  # never escalated by a redelivery
    assert len(out.notifications) == 1


def test_delivered_before_out_for_delivery_raises_nothing(run):
    events = Events().waybill(promised=30).journey()
    ofd, delivered = events.lines[-2], events.lines[-1]
    events.lines[-2:] = [delivered, ofd]
    out = run(events, until=200)
    assert out.exceptions == []


def test_shuffled_uploads_within_a_journey_end_quietly_after_delivery(run):
    events = Events().waybill(promised=30).journey()
    head, body = events.lines[:1], events.lines[1:]
    random.Random(5).shuffle(body)
    events.lines = head + body
    out = run(events, until=200)
    # Whatever the arrival order, nothing stays open once the parcel is delivered
    # (DAMAGED excepted, which does not occur here), and no deadline fires afterwards.
    open_ids = set()
    for record in out.exceptions:
        if record["status"] == "RESOLVED":
            open_ids.discard(record["exception_id"])
        else:
            open_ids.add(record["exception_id"])
    assert open_ids == set()
    assert all(r["detected_at"] <= "2026-11-21T01:00:00+00:00" for r in out.exceptions)


def test_state_follows_event_time_not_arrival(run):
    # The departure arrives before the arrival it follows: the parcel has departed.
    events = Events().waybill(promised=200).scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1")
    events.scan("HUB_ARRIVAL", "A-HUB", 2)
    out = run(events, until=14)
    # No hub stall at A-HUB (it left at 3 h); the checkpoint at B-HUB is overdue at 11 h.
    assert out.of("STALLED_AT_FACILITY") == []
    assert [r["facility_id"] for r in out.of("MISSED_SCAN")] == ["B-HUB"]


def test_unregistered_waybill_is_processed_with_defaults_then_registered(run):
    events = Events().scan("PICKUP", "A-OUT", 1, no="LATE")
    events.scan("HUB_ARRIVAL", "A-HUB", 2, no="LATE")
    events.waybill("LATE", promised=3)
    out = run(events, until=5)
    assert out.statuses("DELAYED", "LATE") == ["OPEN"]
    assert out.notifications  # now the recipient is known


def test_no_deadline_fires_after_delivery(run):
    events = Events().waybill(promised=30).journey()
    out = run(events, until=24 * 30)
    assert out.exceptions == []
