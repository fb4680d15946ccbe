from tests.support.streams import utc


def _silent(events, insured=0):
    return (
        events.waybill(promised=500, insured=insured)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 3)
    )


def test_opens_after_72h_without_scan_and_resolves_on_a_scan(events, run):
    # Another vehicle's ping moves the clock meanwhile: a record 48 h ahead of the clock
    # would be refused (clock_jump), as in a real stream where other parcels move on.
    _silent(events).gps("T9", 40, 24.0, 116.0).scan("HUB_DEPARTURE", "A-HUB", 80, vehicle_id="T1")
    out = run(events)
    records = out.of("LOST_SUSPECTED")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[0]["opened_at"] == utc(75)
    ticket = next(t for t in out.tickets if t["type"] == "LOST_SUSPECTED")
    assert (ticket["department"], ticket["priority"]) == ("CLAIMS", "P2")
    assert [n["type"] for n in out.notifications].count("LOST_SUSPECTED") == 1


def test_71h_of_silence_stays_quiet(events, run):
    _silent(events).scan("HUB_DEPARTURE", "A-HUB", 74.9, vehicle_id="T1")
    assert run(events).of("LOST_SUSPECTED") == []


def test_insured_parcel_is_p1_and_critical(events, run):
    _silent(events, insured=2000)
    out = run(events, until=76)
    (record,) = out.of("LOST_SUSPECTED")
    assert record["severity"] == "CRITICAL"
    assert next(t for t in out.tickets if t["type"] == "LOST_SUSPECTED")["priority"] == "P1"


def test_late_upload_of_an_older_scan_is_no_sign_of_the_parcel(events, run):
    _silent(events).gps("T1", 76, 24.0, 114.0)
    events.scan("DAMAGE_REPORTED", "A-HUB", 2, reason="MINOR")  # old event, uploaded late
    out = run(events, until=77)
    assert out.statuses("LOST_SUSPECTED") == ["OPEN"]


def test_never_picked_up_is_not_lost(events, run):
    events.waybill(promised=500)
    out = run(events, until=200)
    assert out.of("LOST_SUSPECTED") == []
