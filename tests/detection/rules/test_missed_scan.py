"""MISSED_SCAN variants (a)-(d)."""

from tests.support.streams import utc


def _departed(events, hours=3, vehicle="T1", **extra):
    return (
        events.waybill(promised=200)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 2)
        .scan("HUB_DEPARTURE", "A-HUB", hours, vehicle_id=vehicle, **extra)
    )


def test_a_next_checkpoint_overdue(events, run):
    # lane A-HUB -> B-HUB is 4 h: due by 3 + 4 x 1.5 + 2 = 11 h
    _departed(events).scan("HUB_ARRIVAL", "B-HUB", 12)
    out = run(events)
    records = out.of("MISSED_SCAN")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["facility_id"] == "B-HUB"
    assert records[0]["evidence"]["variant"] == "CHECKPOINT_OVERDUE"
    assert records[0]["opened_at"] == utc(11)
    ticket = out.tickets[0]
    assert (ticket["department"], ticket["priority"], ticket["status"]) == (
        "HUB_OPERATIONS",
        "P3",
        "OPEN",
    )
    assert out.tickets[-1]["status"] == "RESOLVED"
    assert out.notifications == []  # internal type: no customer message


def test_a_transit_just_inside_the_limit_stays_quiet(events, run):
    _departed(events).scan("HUB_ARRIVAL", "B-HUB", 10.99)
    assert run(events).of("MISSED_SCAN") == []


def test_a_uses_next_facility_id_when_given(events, run):
    _departed(events, next_facility_id="X-HUB")  # lane A-HUB -> X-HUB: 7 h by B-HUB
    out = run(events, until=30)
    (record,) = out.of("MISSED_SCAN")
    assert record["facility_id"] == "X-HUB"
    assert record["opened_at"] == utc(3 + 7 * 1.5 + 2)


def test_b_vehicle_reached_the_facility_but_parcel_not_scanned(events, run):
    _departed(events)
    events.gps("T1", 3.1, 22.75, 114.10)  # leaving A-HUB
    events.gps("T1", 5.0, 23.50, 114.05)  # on the road
    events.gps("T1", 6.0, 24.001, 114.001)  # at B-HUB
    events.gps("T1", 6.5, 24.001, 114.001)
    events.gps("T1", 8.5, 24.001, 114.001)
    out = run(events, until=8.5)
    (record,) = out.of("MISSED_SCAN")
    assert record["status"] == "OPEN"
    assert record["evidence"]["variant"] == "VEHICLE_ARRIVED_NOT_SCANNED"
    assert record["opened_at"] == utc(6 + 2)  # arrival + 2 h
    assert record["vehicle_id"] == "T1"


def test_b_parcel_unloaded_in_time_stays_quiet(events, run):
    _departed(events)
    events.gps("T1", 6.0, 24.001, 114.001)
    events.scan("UNLOAD", "B-HUB", 7.5, vehicle_id="T1")
    events.gps("T1", 9.0, 24.001, 114.001)
    assert run(events, until=9).of("MISSED_SCAN") == []


def test_c_skipped_checkpoint_is_recorded_open_and_resolved_at_once(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "B-HUB", 6)
    out = run(events)
    records = out.of("MISSED_SCAN")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["facility_id"] == "A-HUB"
    assert records[0]["evidence"]["variant"] == "CHECKPOINT_SKIPPED"
    assert [t["status"] for t in out.tickets] == ["OPEN", "RESOLVED"]


def test_c_two_skipped_checkpoints_are_two_episodes(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "C-HUB", 6)
    out = run(events)
    opened = [r for r in out.of("MISSED_SCAN") if r["status"] == "OPEN"]
    assert [r["facility_id"] for r in opened] == ["A-HUB", "B-HUB"]
    assert len({r["exception_id"] for r in opened}) == 2


def test_c_gap_is_recorded_once(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_ARRIVAL", "B-HUB", 6).scan("HUB_DEPARTURE", "B-HUB", 7)
    out = run(events)
    assert out.statuses("MISSED_SCAN") == ["OPEN", "RESOLVED"]


def test_d_out_for_delivery_without_outcome(events, run):
    events.waybill(promised=200).journey()
    events.lines = events.lines[:-1]  # drop DELIVERED
    out = run(events, until=40)
    (record,) = out.of("MISSED_SCAN")
    assert record["evidence"]["variant"] == "OUT_FOR_DELIVERY_UNRESOLVED"
    assert record["facility_id"] == "C-OUT"
    assert out.tickets[0]["department"] == "DELIVERY_STATION"


def test_d_failed_attempt_is_an_outcome(events, run):
    events.waybill(promised=200).journey()
    events.lines = events.lines[:-1]
    events.scan("DELIVERY_FAILED", "C-OUT", 20, reason="RECIPIENT_ABSENT")
    assert run(events, until=40).of("MISSED_SCAN") == []
