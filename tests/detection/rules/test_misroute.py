def test_scan_off_the_planned_route_and_back(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 2)
    events.scan("HUB_ARRIVAL", "B-HUB", 6).scan("HUB_DEPARTURE", "B-HUB", 7, vehicle_id="T1")
    events.scan("HUB_ARRIVAL", "X-HUB", 10).scan("HUB_DEPARTURE", "X-HUB", 11, vehicle_id="T2")
    events.scan("HUB_ARRIVAL", "B-HUB", 14)
    out = run(events)
    records = out.of("MISROUTED")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["facility_id"] == "X-HUB"
    ticket = out.tickets[0]
    assert (ticket["type"], ticket["department"], ticket["priority"]) == (
        "MISROUTED",
        "HUB_OPERATIONS",
        "P2",
    )
    assert out.notifications == [] or all(n["type"] != "MISROUTED" for n in out.notifications)


def test_without_a_route_moving_away_from_the_destination(events, run):
    events.waybill(promised=200, route=None)
    events.scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 2)
    events.scan("HUB_ARRIVAL", "B-HUB", 6).scan("HUB_ARRIVAL", "X-HUB", 10)
    events.scan("HUB_ARRIVAL", "C-HUB", 16)
    assert run(events).statuses("MISROUTED") == ["OPEN", "RESOLVED"]


def test_without_a_route_a_normal_trip_is_quiet(events, run):
    events.waybill(promised=200, route=None).journey()
    assert run(events).exceptions == []


def test_delivery_resolves_a_misroute(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_ARRIVAL", "X-HUB", 5).scan("DELIVERED", "C-OUT", 20)
    records = run(events).of("MISROUTED")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[1]["evidence"]["resolution"] == "DELIVERED"
