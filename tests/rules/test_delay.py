"""DELAY_PREDICTED and DELAYED on the test network, which has no timetable: the planned
ETA is 24 h after pickup at A-OUT (lanes 1 + 4 + 4 + 1, 2 h handling at each of the
five facilities, 4 h last mile). The model itself is tested in test_eta.py."""

from conftest import utc


def _stuck_at_b(events, promised):
    return (
        events.waybill(promised=promised)
        .scan("PICKUP", "A-OUT", 1)
        .scan("HUB_ARRIVAL", "A-HUB", 2)
        .scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1")
        .scan("HUB_ARRIVAL", "B-HUB", 7)
    )


def test_prediction_fires_from_the_clock_at_the_latest_on_time_moment(events, run):
    # Arrived at B-HUB at 7 h, ready at 9 h; from leaving B, 13 h remain (lanes 5 h,
    # handling at C-HUB and C-OUT 4 h, last mile 4 h). Promise 30 h, margin 30 min: the
    # plan slides once the parcel is still there after 9 h; the latest on-time moment is
    # 30.5 - 13 = 17.5 h.
    _stuck_at_b(events, promised=30)
    out = run(events, until=17.4)
    assert out.of("DELAY_PREDICTED") == []
    out = run(events, until=17.6)
    (record,) = out.of("DELAY_PREDICTED")
    assert record["status"] == "OPEN"
    assert record["opened_at"] == utc(17.5)
    assert record["detected_at"] > utc(17.5)
    assert record["evidence"]["promised_at"] == utc(30)
    assert record["evidence"]["eta"] > utc(30.5)
    assert out.tickets == []  # no ticket for a prediction
    (note,) = out.notifications
    assert note["type"] == "DELAY_PREDICTED"


def test_prediction_resolves_when_the_parcel_is_faster_than_planned(events, run):
    _stuck_at_b(events, promised=30).scan("HUB_DEPARTURE", "B-HUB", 18, vehicle_id="T2")
    assert run(events).statuses("DELAY_PREDICTED") == ["OPEN"]  # plan: 18 + 13 = 31 h
    events.scan("HUB_ARRIVAL", "C-HUB", 20)  # 2 h on a 4 h lane: 20 + 2 + 1 + 2 + 4 = 29 h
    records = run(events).of("DELAY_PREDICTED")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED"]
    assert records[1]["evidence"]["resolution"] == "PREDICTION_WITHIN_PROMISE"


def test_delayed_supersedes_prediction_and_resolves_on_delivery_with_lateness(events, run):
    events.waybill(promised=10).journey()  # delivered at 17 h
    out = run(events)
    predicted = out.of("DELAY_PREDICTED")
    assert [r["status"] for r in predicted] == ["OPEN", "RESOLVED"]
    assert predicted[1]["evidence"]["resolution"] == "SUPERSEDED_BY_DELAYED"
    delayed = out.of("DELAYED")
    assert [r["status"] for r in delayed] == ["OPEN", "RESOLVED"]
    assert delayed[0]["opened_at"] == utc(10)
    assert delayed[1]["evidence"]["late_by_s"] == 7 * 3600
    assert delayed[1]["evidence"]["resolution"] == "DELIVERED"
    order = [(r["type"], r["status"]) for r in out.exceptions]
    assert order.index(("DELAY_PREDICTED", "RESOLVED")) < order.index(("DELAYED", "OPEN"))
    ticket = next(t for t in out.tickets if t["type"] == "DELAYED")
    assert (ticket["department"], ticket["priority"]) == ("CUSTOMER_SERVICE", "P3")


def test_comfortable_promise_raises_nothing(events, run):
    events.waybill(promised=30).journey()  # delivered at 17 h; the model never passes 30.5 h
    out = run(events, until=60)
    assert out.exceptions == []


def test_delivered_one_minute_before_the_promise_is_not_delayed(events, run):
    events.waybill(promised=17 + 1 / 60).journey()
    out = run(events, until=60)
    assert out.of("DELAYED") == []
    assert all(r["status"] != "OPEN" or r["type"] != "DELAYED" for r in out.exceptions)


def test_delivered_exactly_at_the_promise_is_not_delayed(events, run):
    events.waybill(promised=17).journey()
    assert run(events, until=60).of("DELAYED") == []


def test_express_delay_is_p2(events, run):
    events.waybill(promised=10, product="NEXT_DAY").journey()
    ticket = next(t for t in run(events).tickets if t["type"] == "DELAYED")
    assert ticket["priority"] == "P2"


def test_resent_waybill_with_a_later_promise(events, run):
    _stuck_at_b(events, promised=30)  # prediction opens at 17.5 h
    events.gps("T1", 18, 24.0, 114.0)  # moves the clock past it
    events.waybill(promised=40)  # re-sent: the customer agreed a later time
    out = run(events, until=30)
    records = out.of("DELAY_PREDICTED")
    assert [r["status"] for r in records] == ["OPEN", "RESOLVED", "OPEN"]
    assert records[1]["evidence"]["resolution"] == "PREDICTION_WITHIN_PROMISE"
    assert records[2]["opened_at"] == utc(40.5 - 13)
    assert records[2]["exception_id"] != records[0]["exception_id"]
    assert out.of("DELAYED") == []


def test_resent_waybill_with_an_earlier_promise_fires_earlier(events, run):
    _stuck_at_b(events, promised=60)
    events.waybill(promised=20)
    out = run(events, until=9)
    (record,) = out.of("DELAY_PREDICTED")
    # The plan (22 h) was past 20.5 h the moment the parcel reached B-HUB.
    assert record["opened_at"] == utc(7)


def test_derived_promise_when_none_is_given(events, run):
    # STANDARD: created + 22 h model + 36 h margin = 58 h.
    events.waybill(promised=None).scan("PICKUP", "A-OUT", 1)
    out = run(events, until=60)
    (opened, *_) = out.of("DELAYED")
    assert opened["opened_at"] == utc(58)
    assert opened["evidence"]["promise_derived"] is True


def test_unregistered_waybill_has_no_promise(events, run):
    events.scan("PICKUP", "A-OUT", 1, no="GHOST")
    out = run(events, until=60)
    assert out.of("DELAYED", "GHOST") == []
    assert out.of("DELAY_PREDICTED", "GHOST") == []
