from tests.support.streams import at, utc


def test_opens_after_24h_without_pickup_and_resolves_on_pickup(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 30)
    out = run(events)
    records = out.of("PICKUP_OVERDUE")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["opened_at"] == records[0]["detected_at"]
    assert records[0]["detected_at"] == utc(24)
    assert records[1]["resolved_at"] == utc(30)
    assert records[0]["exception_id"] == records[1]["exception_id"]
    assert records[0]["facility_id"] == "A-OUT"


def test_pickup_just_in_time_stays_quiet(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 23.99)
    assert run(events, until=100).of("PICKUP_OVERDUE") == []


def test_fires_from_the_clock_alone(events, run):
    events.waybill(promised=200)
    out = run(events, until=25)
    assert out.statuses("PICKUP_OVERDUE") == ["OPEN"]
    ticket = out.tickets[0]
    assert (ticket["department"], ticket["priority"]) == ("DELIVERY_STATION", "P3")
    assert out.notifications[0]["type"] == "PICKUP_OVERDUE"


def test_any_scan_proves_pickup(events, run):
    events.waybill(promised=200).scan("HUB_ARRIVAL", "A-HUB", 2)
    out = run(events, until=30)
    assert out.of("PICKUP_OVERDUE") == []


def test_unregistered_waybill_has_no_pickup_deadline(events, run):
    events.scan("PICKUP", "A-OUT", 1, no="GHOST")
    assert run(events, until=30).of("PICKUP_OVERDUE") == []


def test_time_helper_is_beijing_time():
    assert at(0) == "2026-11-20T08:00:00+08:00"
