"""Ordering, redelivery and registration behaviour of the waybill side."""

import random

from parcelwatch.clock import MINUTE, to_us
from tests.support.streams import BASE, Events


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


def test_late_timer_gives_the_same_records_as_timely_deadlines(network):
    """The live pipeline may see an input before the tick of an earlier deadline: the
    processor fires what fell due first, so the records match the replay's."""
    from datetime import timedelta

    from parcelwatch.clock import to_us
    from parcelwatch.detection.context import RuleContext
    from parcelwatch.detection.detector import Detector
    from parcelwatch.detection.waybills import WaybillProcessor
    from parcelwatch.schemas import Scan, Waybill
    from tests.support.streams import BASE, ROUTE

    wb = Waybill.model_validate(
        {
            "waybill_no": "W",
            "product": "STANDARD",
            "created_at": BASE.isoformat(),
            "promised_at": (BASE + timedelta(hours=60)).isoformat(),
            "origin_facility_id": "A-OUT",
            "destination_facility_id": "C-OUT",
            "planned_route": ROUTE,
            "recipient": {"name": "张伟", "phone": "13800138000"},
        }
    )

    def scan(i, kind, facility, hours):
        return Scan(
            event_id=f"e{i}",
            waybill_no="W",
            facility_id=facility,
            event_time=BASE + timedelta(hours=hours),
            scan_type=kind,
        )

    inputs = [
        wb,
        scan(1, "PICKUP", "A-OUT", 1),
        scan(2, "HUB_ARRIVAL", "A-HUB", 2),
        scan(3, "HUB_ARRIVAL", "B-HUB", 30),
    ]
    detector = Detector(network)
    for record in inputs:
        detector.feed(record)
    expected = [
        (
            t,
            r.model_dump(
                exclude={
                    "detected_at",
                    "evidence",
                    "updated_at",
                    "created_at",
                    "send_after",
                    "resolved_at",
                    "due_at",
                    "body",
                }
            ),
        )
        for t, r in detector.outputs
    ]

    side = WaybillProcessor(RuleContext.create(network))
    w = None
    got = []
    for record in inputs:  # no ticks at all: every deadline is caught up by the next input
        at = record.created_at if isinstance(record, Waybill) else record.event_time
        step = (side.register if isinstance(record, Waybill) else side.scan)(w, record, to_us(at))
        w = step.state
        got += [
            (
                t,
                r.model_dump(
                    exclude={
                        "detected_at",
                        "evidence",
                        "updated_at",
                        "created_at",
                        "send_after",
                        "resolved_at",
                        "due_at",
                        "body",
                    }
                ),
            )
            for t, r in step.outputs
        ]
    assert got == expected
    assert "STALLED_AT_FACILITY" in {r["type"] for t, r in got if t == "exceptions"}


def test_a_vehicle_fact_older_than_the_last_one_applied_is_ignored(ctx):
    """Facts of one vehicle come in time order; an older one is a redelivery (after a
    fail-over) and must not bring back a condition that has already cleared."""
    from parcelwatch.detection.state import VehicleFact
    from parcelwatch.detection.waybills import WaybillProcessor
    from parcelwatch.schemas import Scan

    side = WaybillProcessor(ctx)
    board = Scan(
        event_id="e1",
        waybill_no="W1",
        facility_id="A-HUB",
        scan_type="HUB_DEPARTURE",
        event_time=BASE,
        vehicle_id="T1",
        next_facility_id="B-HUB",
    )
    w = side.scan(None, board, to_us(BASE)).state

    def signal(status: str, minutes: int) -> VehicleFact:
        at = to_us(BASE) + minutes * MINUTE
        return VehicleFact("T1", status, to_us(BASE), 23.0, 114.05, None, None, at)

    opened = side.vehicle_fact(w, signal("STATIONARY", 90), to_us(BASE) + 90 * MINUTE)
    assert [r.status for _, r in opened.outputs if _ == "exceptions"] == ["OPEN"]
    cleared = side.vehicle_fact(w, signal("OK", 120), to_us(BASE) + 120 * MINUTE)
    assert [r.status for _, r in cleared.outputs if _ == "exceptions"] == ["RESOLVED"]
    again = side.vehicle_fact(w, signal("STATIONARY", 90), to_us(BASE) + 121 * MINUTE)
    assert again is not None and again.outputs == []
    assert w.sig_status == "OK"
