"""STALLED_AT_FACILITY and STALLED_IN_TRANSIT."""

from tests.support.streams import utc


def _at_b_hub(events, product="STANDARD"):
    return (
        events.waybill(promised=200, product=product)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 2)
        .scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1")
        .scan("HUB_ARRIVAL", "B-HUB", 7)
    )


def test_hub_stall_opens_12h_after_arrival_and_resolves_on_departure(events, run):
    _at_b_hub(events).scan("HUB_DEPARTURE", "B-HUB", 20, vehicle_id="T2")
    out = run(events)
    records = out.of("STALLED_AT_FACILITY")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["facility_id"] == "B-HUB"
    assert records[0]["opened_at"] == utc(7 + 12)
    ticket = out.tickets[0]
    assert (ticket["department"], ticket["priority"]) == ("HUB_OPERATIONS", "P2")
    assert ticket["due_at"] == utc(7 + 12 + 8)  # P2: created + 8 h


def test_dwell_just_under_the_limit_stays_quiet(events, run):
    _at_b_hub(events).scan("HUB_DEPARTURE", "B-HUB", 18.99, vehicle_id="T2")
    assert run(events).of("STALLED_AT_FACILITY") == []


def test_express_stall_is_p1(events, run):
    _at_b_hub(events, product="NEXT_DAY")
    out = run(events, until=20)
    assert out.tickets[0]["priority"] == "P1"


def test_another_scan_at_the_same_hub_does_not_end_the_stall(events, run):
    _at_b_hub(events).scan("DAMAGE_REPORTED", "B-HUB", 21, reason="MINOR")
    out = run(events, until=22)
    assert out.statuses("STALLED_AT_FACILITY") == ["OPEN"]


def test_a_scan_elsewhere_resolves(events, run):
    _at_b_hub(events).scan("HUB_ARRIVAL", "C-HUB", 25)
    assert run(events).statuses("STALLED_AT_FACILITY") == ["OPEN", "RESOLVED"]


def test_outlet_stall_after_24h_goes_to_the_delivery_station(events, run):
    events.waybill(promised=200).journey()
    events.lines = events.lines[:-2]  # arrived at C-OUT at 15 h, no OFD
    out = run(events, until=40)
    (record,) = out.of("STALLED_AT_FACILITY")
    assert record["facility_id"] == "C-OUT"
    assert record["opened_at"] == utc(15 + 24)
    assert out.tickets[0]["department"] == "DELIVERY_STATION"


def test_outlet_dwell_of_23h_stays_quiet(events, run):
    events.waybill(promised=200).journey()
    events.lines = events.lines[:-2]
    events.scan("OUT_FOR_DELIVERY", "C-OUT", 38).scan("DELIVERED", "C-OUT", 39)
    assert run(events, until=60).of("STALLED_AT_FACILITY") == []


def _loaded(events):
    return (
        events.waybill(promised=200)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 2)
        .gps("T1", 2.5, 22.70, 114.10)
        .scan("LOAD", "A-HUB", 2.6, vehicle_id="T1")
        .scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1")
    )


def _pings(events, vehicle, start, end, lat, lon, every_min=1.0):
    h = start
    while h <= end + 1e-9:
        events.gps(vehicle, h, lat, lon)
        h += every_min / 60
    return events


def test_vehicle_stationary_off_site_stalls_the_parcel(events, run):
    _loaded(events)
    events.gps("T1", 3.5, 23.00, 114.05)  # moving
    _pings(events, "T1", 4.0, 5.5, 23.30, 114.05, every_min=2)  # broken down off-site
    events.gps("T1", 5.6, 23.50, 114.05)  # moving again
    out = run(events)
    records = out.of("STALLED_IN_TRANSIT")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["vehicle_id"] == "T1"
    assert records[0]["evidence"]["condition"] == "STATIONARY_OFF_SITE"
    assert records[0]["opened_at"] == utc(4 + 1)  # stopped at 4 h, for 60 min
    assert records[1]["evidence"]["resolution"] == "VEHICLE_MOVING"
    ticket = out.tickets[0]
    assert (ticket["department"], ticket["priority"]) == ("LINEHAUL", "P2")


def test_stop_of_59_minutes_stays_quiet(events, run):
    _loaded(events)
    events.gps("T1", 3.5, 23.00, 114.05)
    _pings(events, "T1", 4.0, 4.0 + 58 / 60, 23.30, 114.05)
    events.gps("T1", 4.0 + 59 / 60, 23.60, 114.05)
    assert run(events).of("STALLED_IN_TRANSIT") == []


def test_standing_at_a_facility_is_not_a_stall(events, run):
    _loaded(events)
    _pings(events, "T1", 3.0, 6.0, 22.705, 114.10, every_min=5)  # in the hub's yard
    assert run(events).of("STALLED_IN_TRANSIT") == []


def test_gps_silence_stalls_and_a_scan_resolves(events, run):
    _loaded(events)
    events.gps("T1", 3.5, 23.00, 114.05)
    events.scan("UNLOAD", "B-HUB", 6.0, vehicle_id="T1")
    out = run(events)
    records = out.of("STALLED_IN_TRANSIT")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["evidence"]["condition"] == "GPS_SILENT"
    assert records[0]["opened_at"] == utc(3.5 + 1)  # last ping + 60 min
    assert records[1]["evidence"]["resolution"] == "PARCEL_SCANNED"


def test_untracked_vehicle_never_stalls(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1)
    events.scan("LOAD", "A-OUT", 1.5, vehicle_id="VAN-NO-GPS")
    assert run(events, until=10).of("STALLED_IN_TRANSIT") == []


def test_parcel_loaded_on_a_long_silent_truck_gets_an_hour(events, run):
    events.waybill(promised=200).scan("PICKUP", "A-OUT", 1)
    events.gps("T9", 0.5, 22.50, 113.90)  # last ping, then silence
    events.scan("LOAD", "A-OUT", 5, vehicle_id="T9")
    out = run(events, until=5.9)
    assert out.of("STALLED_IN_TRANSIT") == []
    out = run(events, until=6.1)
    (record,) = out.of("STALLED_IN_TRANSIT")
    assert record["opened_at"] == utc(5 + 1)  # loaded + 60 min
