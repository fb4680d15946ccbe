"""DELAY_PREDICTED and DELAYED on the test network, which has no timetable: the planned
ETA is 24 h after pickup at A-OUT (lanes 1 + 4 + 4 + 1, 2 h handling at each of the
five facilities, 4 h last mile). The model itself is tested in test_eta.py."""

from tests.support.streams import Events, at, utc


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
    # STANDARD: the plan for a pickup at creation (2 h handling at each of the five
    # facilities, destination included, 10 h of lanes, 4 h last mile: 24 h) + 36 h.
    events.waybill(promised=None).scan("PICKUP", "A-OUT", 1)
    out = run(events, until=62)
    (opened, *_) = out.of("DELAYED")
    assert opened["opened_at"] == utc(60)
    assert opened["evidence"]["promise_derived"] is True
    assert opened["evidence"]["promised_at"] == utc(60)


def test_derived_promise_by_the_baseline_model(events, run):
    # created + 22 h (no handling at the destination: the last mile is its 4 h) + 36 h.
    events.waybill(promised=None).scan("PICKUP", "A-OUT", 1)
    out = run(events, until=62, config={"eta_model": "baseline"})
    (opened, *_) = out.of("DELAYED")
    assert opened["opened_at"] == utc(58)


def test_derived_promise_ignores_what_was_scanned_before_the_order(events, run):
    """An order that arrives after its parcel's first scans is promised what it would
    have been promised first: the derivation starts from the creation, not the position."""
    early = Events()
    early.waybill(promised=None).scan("PICKUP", "A-OUT", 1)
    late = Events()
    late.scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 9).waybill(promised=None)
    promised = {run(e, until=62).of("DELAYED")[0]["evidence"]["promised_at"] for e in (early, late)}
    assert promised == {utc(60)}


def test_unregistered_waybill_has_no_promise(events, run):
    events.scan("PICKUP", "A-OUT", 1, no="GHOST")
    out = run(events, until=60)
    assert out.of("DELAYED", "GHOST") == []
    assert out.of("DELAY_PREDICTED", "GHOST") == []


# -- on a timetabled network ------------------------------------------------------------
TIMETABLED = """
facilities:
  - {id: A-OUT, name: 甲网点, kind: outlet, city: 甲, lat: 22.50, lon: 113.90,
     delivery_window: ["08:00", "20:00"]}
  - {id: A-HUB, name: 甲转运中心, kind: hub, city: 甲, lat: 22.70, lon: 114.10}
  - {id: B-HUB, name: 乙转运中心, kind: hub, city: 乙, lat: 24.00, lon: 114.00}
  - {id: C-HUB, name: 丙转运中心, kind: hub, city: 丙, lat: 26.00, lon: 114.00}
  - {id: C-OUT, name: 丙网点, kind: outlet, city: 丙, lat: 26.20, lon: 114.20,
     delivery_window: ["08:00", "20:00"]}
lanes:
  - {from: A-OUT, to: A-HUB, hours: 1}
  - {from: A-HUB, to: B-HUB, hours: 4}
  - {from: B-HUB, to: C-HUB, hours: 4}
  - {from: C-HUB, to: C-OUT, hours: 1}
schedules:
  - {from: B-HUB, to: C-HUB, departures: ["14:00", "23:00"]}
"""


def test_prediction_fires_when_the_last_connection_leaves_without_the_parcel(events, tmp_path):
    # Test epoch 08:00 Beijing. At B-HUB at 7 h (15:00), ready 17:00: the 23:00 truck
    # (15 h), C-HUB 03:00, ready 05:00, C-OUT 06:00, ready 08:00, out at 08:00 (window),
    # delivered 12:00 = 28 h. Promised 28 h: the 23:00 truck is the last connection;
    # it goes at 23:30 (grace), and the next one (14:00) delivers at 19:00 + ... too late.
    from parcelwatch.offline.replay import replay
    from tests.support.streams import read_outputs

    net = tmp_path / "net.yaml"
    net.write_text(TIMETABLED, encoding="utf-8")
    _stuck_at_b(events, promised=28)
    events.gps("T1", 15.5 - 1 / 3600, 24.0, 114.0)  # the clock, just before 23:30
    source = events.write(tmp_path / "events.jsonl")
    replay(net, source, tmp_path / "before")
    assert read_outputs(tmp_path / "before").of("DELAY_PREDICTED") == []

    replay(net, source, tmp_path / "after", until=at(15.5))
    out = read_outputs(tmp_path / "after")
    (record,) = out.of("DELAY_PREDICTED")
    assert record["opened_at"] == record["detected_at"] == utc(15.5)
    evidence = record["evidence"]
    assert evidence["missed_connection"] == {
        "lane": ["B-HUB", "C-HUB"],
        "scheduled_departure": utc(15),
    }
    assert evidence["promised_at"] == utc(28)
    # Next truck 14:00 (30 h), C-HUB 18:00, ready 20:00, C-OUT 21:00, ready 23:00: the
    # round at 08:00, delivered 12:00 the day after (52 h).
    assert evidence["eta"] == utc(52)
    (note,) = out.notifications
    assert note["type"] == "DELAY_PREDICTED"
    assert "11月22日 12:00" in note["body"]  # the planned time, Beijing time

    # Nothing more happens as time runs on: one episode, one message, until delivery.
    replay(net, source, tmp_path / "later", until=at(27))
    later = read_outputs(tmp_path / "later")
    assert later.statuses("DELAY_PREDICTED") == ["OPEN"]
    assert len(later.notifications) == 1


def test_the_lateness_kept_per_waybill_packs_into_one_int_and_back():
    from parcelwatch.detection.eta import Lateness
    from parcelwatch.detection.rules.delay import _NEVER, _pack, _unpack

    for since in (946_684_800_000_000, 1_795_132_800_000_001, 4_102_444_799_999_999):
        for due in (since, since + 1):
            assert _unpack(_pack(Lateness(due, since))) == Lateness(due, since)
    assert _pack(None) == _NEVER


# -- the customer's message while scans are missing ----------------------------------------
def _gone_quiet_after_a_hub(events):
    """Promised 27.5 h; departed A-HUB at 3 h toward B-HUB (4 h lane) and not scanned
    since: MISSED_SCAN at 3 + 4 x 1.5 + 2 = 11 h; the plan (arrive B at now, then 15 h
    to delivery) passes 28 h from 13 h on, while the scan gap is open."""
    events.waybill(promised=27.5).scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1", next_facility_id="B-HUB")
    return events


def test_no_prediction_rests_on_a_position_the_scans_stopped_reporting(events, run):
    """Missing scans are as likely a scanner gone quiet as a parcel running late: the
    plan from the last scanned position is not a prediction then (issue 23: 28 of 36
    false warnings were parcels a hub never scanned)."""
    out = run(_gone_quiet_after_a_hub(events), until=13.5)
    (missed,) = out.of("MISSED_SCAN")
    assert missed["opened_at"] == utc(11)
    assert out.of("DELAY_PREDICTED") == []
    assert [n for n in out.notifications if n["type"] == "DELAY_PREDICTED"] == []


def test_scans_missing_long_enough_are_taken_for_a_delay(events, run):
    """Promised 40 h: MISSED_SCAN at 11 h, and still nothing scanned 6 h later (the
    wait set to 6 h): the plan from the last position is believed from then on."""
    events.waybill(promised=40).scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1", next_facility_id="B-HUB")
    out = run(events, until=34, config={"delay_predicted_quiet_scans_hours": 6})
    (missed,) = out.of("MISSED_SCAN")
    assert missed["opened_at"] == utc(11)
    (predicted,) = out.of("DELAY_PREDICTED")
    assert predicted["detected_at"] >= utc(17)
    # The default wait (24 h, to 35 h) holds the same prediction back.
    assert run(events, until=34).of("DELAY_PREDICTED") == []


def test_the_scans_resume_and_show_it_on_time_so_nothing_is_opened(events, run):
    # It had gone on: C-HUB at 14 h, ready 16, C-OUT 17, ready 19, delivered 23 h.
    _gone_quiet_after_a_hub(events).scan("HUB_ARRIVAL", "C-HUB", 14)
    out = run(events, until=20)
    assert out.of("DELAY_PREDICTED") == []
    assert out.statuses("MISSED_SCAN")[-1] == "RESOLVED"


def test_the_scans_resume_and_confirm_the_delay_so_it_is_sent_then(events, run):
    # It had been at B-HUB all along: arrival scanned at 14 h, the plan says 29 h.
    _gone_quiet_after_a_hub(events).scan("HUB_ARRIVAL", "B-HUB", 14)
    out = run(events, until=20)
    assert out.statuses("DELAY_PREDICTED") == ["OPEN"]
    (note,) = [n for n in out.notifications if n["type"] == "DELAY_PREDICTED"]
    assert note["created_at"] == utc(14)
    assert note["exception_id"] == out.of("DELAY_PREDICTED")[0]["exception_id"]


def test_a_prediction_from_scans_is_told_at_once(events, run):
    # Sitting at A-HUB since 2 h, scanned: it had to be ready to leave by 9 h.
    events.waybill(promised=27.5).scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 2)
    out = run(events, until=10)
    (predicted,) = out.of("DELAY_PREDICTED")
    assert predicted["opened_at"] == utc(9)
    (note,) = [n for n in out.notifications if n["type"] == "DELAY_PREDICTED"]
    assert note["created_at"] == predicted["detected_at"]
    assert out.of("MISSED_SCAN") == []
