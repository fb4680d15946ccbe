"""The planned ETA (CONTRACT §4) as a pure function over hand-built timetables, its
deadline (the moment the last connection that makes the promise goes), and properties:
it never decreases as the clock runs with no new scan, and a parcel that follows its
plan is never predicted late."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelwatch.clock import HOUR, MINUTE, to_datetime
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.detector import Detector
from parcelwatch.detection.eta import missed_connection, planned_eta, planned_late_from
from parcelwatch.network.graph import Network
from tests.support.planned import NET, ROUTE, bj, make_ctx, parcel, show


@pytest.fixture(scope="module")
def ctx() -> RuleContext:
    return make_ctx()


# -- the forward ETA -----------------------------------------------------------------
def test_waiting_for_the_next_departure(ctx):
    # At H1 at 08:00, ready 10:00: the 14:00 truck, H2 at 19:00, ready 21:00; the 06:00 van,
    # D at 07:00, ready 08:00; the courier round opens at 09:00; delivered 13:00.
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    for now in ("11-20 08:00", "11-20 13:00", "11-20 14:29"):
        assert show(planned_eta(w, ctx, bj(now))) == "11-21 13:00", now


def test_a_departure_counts_as_gone_only_after_the_grace(ctx):
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    assert show(planned_eta(w, ctx, bj("11-20 14:30") - 1)) == "11-21 13:00"
    # Gone: the 02:00 truck, H2 07:00, ready 09:00, the 12:00 van, D 13:00, ready 14:00.
    assert show(planned_eta(w, ctx, bj("11-20 14:30"))) == "11-21 18:00"
    strict = make_ctx(departure_grace_minutes=5)
    assert show(planned_eta(w, strict, bj("11-20 14:05"))) == "11-21 18:00"


def test_the_stay_begins_at_its_first_scan(ctx):
    # UNLOAD at 11:30, HUB_ARRIVAL at 12:10: ready 13:30, the 14:00 truck.
    w = parcel("HUB_ARRIVAL", "H1", "11-20 12:10", stay="11-20 11:30")
    assert show(planned_eta(w, ctx, bj("11-20 12:10"))) == "11-21 13:00"
    late = parcel("HUB_ARRIVAL", "H1", "11-20 12:10", stay="11-20 12:10")  # ready 14:10
    assert show(planned_eta(late, ctx, bj("11-20 12:10"))) == "11-21 18:00"


def test_on_a_lane_arrival_slides_only_after_the_lane_hours(ctx):
    w = parcel("HUB_DEPARTURE", "H1", "11-20 14:00", next_facility="H2")
    assert show(planned_eta(w, ctx, bj("11-20 15:00"))) == "11-21 13:00"
    # Still not at H2 at 05:01: ready 07:01, misses the 06:00 van: the 12:00 one.
    assert show(planned_eta(w, ctx, bj("11-21 05:01"))) == "11-21 18:00"


def test_a_loaded_parcel_leaves_with_the_departure_it_was_loaded_for(ctx):
    # Loaded at 13:30 for the 14:00 truck: as if it left at 14:00 (not at 13:30).
    w = parcel("LOAD", "H1", "11-20 13:30", next_facility="H2")
    assert show(planned_eta(w, ctx, bj("11-20 13:30"))) == "11-21 13:00"
    # Due at H2 at 19:00; ready by 06:00 for the van if there by 04:00, else the 12:00 van.
    assert show(planned_eta(w, ctx, bj("11-21 04:00"))) == "11-21 13:00"
    assert show(planned_eta(w, ctx, bj("11-21 04:01"))) == "11-21 18:00"
    # Loaded at 14:20 onto the 14:00 truck running late: still that truck (grace 30 min).
    w = parcel("LOAD", "H1", "11-20 14:20", next_facility="H2")
    assert show(planned_eta(w, ctx, bj("11-20 14:20"))) == "11-21 13:00"
    # Loaded at 14:30, when the 14:00 departure has gone: the 02:00 one.
    w = parcel("LOAD", "H1", "11-20 14:30", next_facility="H2")
    assert show(planned_eta(w, ctx, bj("11-20 14:30"))) == "11-21 18:00"


def test_delivery_window_edges(ctx):
    # Ready exactly at 17:00 (the end): tomorrow's 09:00 round.
    w = parcel("HUB_ARRIVAL", "D", "11-20 16:00")
    assert show(planned_eta(w, ctx, bj("11-20 16:00"))) == "11-21 13:00"
    # Ready at 09:00 (the start): out at once.
    w = parcel("HUB_ARRIVAL", "D", "11-20 08:00")
    assert show(planned_eta(w, ctx, bj("11-20 08:00"))) == "11-20 13:00"
    # Inside the window the round goes when the parcel is ready (or now).
    w = parcel("HUB_ARRIVAL", "D", "11-20 11:00")
    assert show(planned_eta(w, ctx, bj("11-20 11:00"))) == "11-20 16:00"
    assert show(planned_eta(w, ctx, bj("11-20 13:00"))) == "11-20 17:00"
    assert show(planned_eta(w, ctx, bj("11-20 17:00"))) == "11-21 13:00"


def test_a_destination_in_another_time_zone():
    tokyo = make_ctx("Asia/Tokyo")
    # D keeps 09:00-17:00 Tokyo time (08:00-16:00 Beijing): ready 16:30 Beijing is 17:30
    # in Tokyo, after the window: out at 09:00 Tokyo tomorrow, delivered 13:00 Tokyo.
    w = parcel("HUB_ARRIVAL", "D", "11-20 15:30")
    assert show(planned_eta(w, tokyo, bj("11-20 15:30")), "Asia/Tokyo") == "11-21 13:00"
    ny = make_ctx("America/New_York")
    w = parcel("HUB_ARRIVAL", "D", "11-20 15:30")  # 02:30 in New York: the 09:00 round
    assert show(planned_eta(w, ny, bj("11-20 15:30")), "America/New_York") == "11-20 13:00"


def test_a_timetable_crossing_midnight():
    text = NET.replace("TZ", "Asia/Shanghai").replace('["02:00", "14:00"]', '["23:30"]')
    ctx = RuleContext.create(Network.from_yaml_text(text))
    # Ready 22:00: the 23:30 truck, H2 04:30 next day, ready 06:30, the 12:00 van.
    w = parcel("HUB_ARRIVAL", "H1", "11-20 20:00")
    assert show(planned_eta(w, ctx, bj("11-20 20:00"))) == "11-21 18:00"
    # Gone at 00:00 (23:30 + 30 min): the next one is tomorrow night.
    assert show(planned_eta(w, ctx, bj("11-21 00:00"))) == "11-22 18:00"


def test_out_for_delivery_and_a_failed_delivery(ctx):
    w = parcel("OUT_FOR_DELIVERY", "D", "11-20 10:00")
    assert show(planned_eta(w, ctx, bj("11-20 10:00"))) == "11-20 14:00"
    assert show(planned_eta(w, ctx, bj("11-20 15:00"))) == "11-20 15:00"
    # Failed at 15:00: ready again at 16:00, still in the window: out at 16:00.
    w = parcel("DELIVERY_FAILED", "D", "11-20 15:00")
    assert show(planned_eta(w, ctx, bj("11-20 15:00"))) == "11-20 20:00"
    w = parcel("DELIVERY_FAILED", "D", "11-20 16:30")  # ready 17:30: tomorrow
    assert show(planned_eta(w, ctx, bj("11-20 16:30"))) == "11-21 13:00"


def test_before_pickup_as_if_picked_up_now(ctx):
    w = parcel()
    # Picked up at 08:00: ready 09:00, the 10:00 van, H1 11:00, ready 13:00, the 14:00 truck.
    assert show(planned_eta(w, ctx, bj("11-20 08:00"))) == "11-21 13:00"
    # At 09:30: ready 10:30, the 16:00 van, H1 17:00, ready 19:00, the 02:00 truck ...
    assert show(planned_eta(w, ctx, bj("11-20 09:30"))) == "11-21 18:00"


def test_no_timetable_leaves_when_ready():
    ctx = RuleContext.create(
        Network.from_yaml_text(NET.replace("TZ", "Asia/Shanghai").split("schedules:")[0])
    )
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    # Ready 10:00, H2 15:00, ready 17:00, D 18:00, ready 19:00: tomorrow's 09:00 round.
    assert show(planned_eta(w, ctx, bj("11-20 08:00"))) == "11-21 13:00"
    # Still there at 12:00: leaves now, ready at D at 21:00: still tomorrow 09:00.
    assert show(planned_eta(w, ctx, bj("11-20 12:00"))) == "11-21 13:00"


def test_off_the_route_the_fastest_path_is_planned(ctx):
    w = parcel("HUB_ARRIVAL", "H2", "11-21 01:00")
    w.route = ("O", "H1", "D")  # a route that skips H2: from H2 the fastest path
    assert show(planned_eta(w, ctx, bj("11-21 01:00"))) == "11-21 13:00"


def test_a_route_or_departure_the_network_cannot_travel_is_no_crash():
    net = Network.from_yaml_text(
        """
facilities:
  - {id: O, name: o, kind: outlet, city: a, lat: 1, lon: 1}
  - {id: H, name: h, kind: hub, city: a, lat: 1.1, lon: 1.1}
  - {id: D, name: d, kind: outlet, city: b, lat: 2, lon: 2}
lanes:
  - {from: O, to: H, hours: 1}
  - {from: H, to: D, hours: 5, oneway: true}
"""
    )
    ctx = RuleContext.create(net)
    w = parcel()
    w.origin, w.destination, w.route = "O", "D", ("O", "D", "H", "D")  # D -> H: oneway
    # The route cannot be travelled: the fastest path O -> H -> D (1 + 5 h, 2 h handling
    # at each of the three, 4 h last mile) from 08:00.
    assert show(planned_eta(w, ctx, bj("11-20 08:00"))) == "11-21 00:00"
    assert planned_late_from(w, ctx, bj("11-20 20:00")) is not None
    w = parcel("HUB_DEPARTURE", "D", "11-20 08:00", next_facility="H")
    w.destination, w.route = "O", None  # departed the wrong way up a oneway lane
    assert planned_eta(w, ctx, bj("11-20 09:00")) is None
    assert planned_late_from(w, ctx, bj("11-21 09:00")) is None


# -- the deadline --------------------------------------------------------------------
def test_late_from_is_the_moment_the_last_connection_goes(ctx):
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    late = planned_late_from(w, ctx, bj("11-21 13:30"))
    assert show(late.due) == show(late.since) == "11-20 14:30"  # the 14:00 truck + grace
    assert missed_connection(w, ctx, bj("11-21 13:30")) == {
        "lane": ["H1", "H2"],
        "scheduled_departure": "2026-11-20T06:00:00+00:00",
    }
    # A promise the 02:00 truck still makes: late only once that one goes.
    assert show(planned_late_from(w, ctx, bj("11-21 18:00")).due) == "11-21 02:30"


def test_late_from_a_parcel_already_late_when_it_arrives(ctx):
    w = parcel("HUB_ARRIVAL", "H1", "11-20 13:00")  # ready 15:00: the 14:00 truck is missed
    late = planned_late_from(w, ctx, bj("11-21 13:30"))
    assert late.due == late.since == w.last_at


def test_late_from_on_a_lane_and_at_the_window(ctx):
    w = parcel("HUB_DEPARTURE", "H1", "11-20 14:00", next_facility="H2")
    late = planned_late_from(w, ctx, bj("11-21 13:30"))
    # Must reach H2 by 04:00 (ready 06:00 for the 06:00 van): late the instant after.
    assert late.since == bj("11-21 04:00") and late.due == late.since + 1
    w = parcel("HUB_ARRIVAL", "D", "11-20 11:00")
    late = planned_late_from(w, ctx, bj("11-20 20:00"))  # out by 16:00 at the latest
    assert late.since == bj("11-20 16:00")
    late = planned_late_from(w, ctx, bj("11-20 21:30"))  # the round closes at 17:00
    assert late.due == late.since == bj("11-20 17:00")
    assert missed_connection(w, ctx, bj("11-20 21:30"))["delivery_round"] == "D"


# -- properties ----------------------------------------------------------------------
POSITIONS = st.sampled_from(
    [
        (None, None, None),
        ("PICKUP", "O", None),
        ("LOAD", "O", "H1"),
        ("HUB_ARRIVAL", "H1", None),
        ("HUB_DEPARTURE", "H1", "H2"),
        ("UNLOAD", "H2", None),
        ("HUB_ARRIVAL", "D", None),
        ("OUT_FOR_DELIVERY", "D", None),
        ("DELIVERY_FAILED", "D", None),
    ]
)
ZONES = st.sampled_from(["Asia/Shanghai", "Asia/Tokyo", "America/New_York", "Europe/London"])
_CTXS: dict[str, RuleContext] = {}


def ctx_for(tz: str) -> RuleContext:
    if tz not in _CTXS:
        _CTXS[tz] = make_ctx(tz)
    return _CTXS[tz]


@given(POSITIONS, ZONES, st.integers(0, 96 * 60), st.integers(0, 72 * 60), st.integers(0, 72 * 60))
def test_planned_eta_never_decreases_as_the_clock_runs(position, tz, at_min, d1, d2):
    kind, facility, ahead = position
    ctx = ctx_for(tz)
    w = parcel()
    t0 = bj("11-19 00:00") + at_min * MINUTE
    w.created_at = t0
    if kind is not None:
        w.last_type, w.last_facility, w.last_at, w.stay_at, w.last_next = (
            kind,
            facility,
            t0,
            t0,
            ahead,
        )
    a, b = sorted((d1, d2))
    first = planned_eta(w, ctx, t0 + a * MINUTE)
    second = planned_eta(w, ctx, t0 + b * MINUTE)
    assert first <= second
    # And the deadline agrees with the forward ETA: on time just before it, late at it.
    deadline = first + 5 * HOUR
    late = planned_late_from(w, ctx, deadline)
    if late is not None and late.due > t0:
        assert planned_eta(w, ctx, late.due - 1) <= deadline
        assert planned_eta(w, ctx, late.due) > deadline


def _follow_the_plan(ctx: RuleContext, created: int) -> list[tuple[str, str, int, dict]]:
    """Scans of a parcel that does exactly what the plan says, worked out here from the
    contract's words (not with the code under test): picked up at creation, leaves on
    the first departure at or after ready, out at the first in-window moment, delivered
    last_mile_hours later."""
    net, t = ctx.network, ctx.t
    scans = [("PICKUP", "O", created, {})]
    ready = created + ctx.handling["O"]
    for a, b in pairwise(ROUTE):
        table = net.schedules.get((a, b))
        leave = ready if table is None else table.first_at_or_after(ready)
        scans.append(("HUB_DEPARTURE", a, leave, {"vehicle_id": f"T-{a}", "next_facility_id": b}))
        arrive = leave + round(net.leg_hours(a, b) * HOUR)
        scans.append(("HUB_ARRIVAL", b, arrive, {}))
        ready = arrive + ctx.handling[b]
    out = net.facilities["D"].window.first_inside_at_or_after(ready)
    scans.append(("OUT_FOR_DELIVERY", "D", out, {}))
    scans.append(("DELIVERED", "D", out + t.last_mile, {}))
    return scans


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(ZONES, st.integers(0, 7 * 24 * 60), st.integers(0, 48 * 60))
def test_a_parcel_that_follows_its_plan_is_never_predicted_late(tz, created_min, slack_min):
    from parcelwatch.schemas import Scan, Waybill

    ctx = ctx_for(tz)
    created = bj("11-16 00:00") + created_min * MINUTE
    scans = _follow_the_plan(ctx, created)
    delivered = scans[-1][2]
    promised = delivered - 30 * MINUTE + slack_min * MINUTE  # at worst 30 min before
    iso = lambda t: to_datetime(t).isoformat()  # noqa: E731
    detector = Detector(ctx.network, ctx.settings)
    wb = Waybill.model_validate(
        {
            "waybill_no": "WB1",
            "product": "STANDARD",
            "created_at": iso(created),
            "promised_at": iso(promised),
            "origin_facility_id": "O",
            "destination_facility_id": "D",
            "planned_route": list(ROUTE),
            "recipient": {"name": "张伟", "phone": "13800138000"},
        }
    )
    detector.feed(wb)
    for i, (kind, facility, at, extra) in enumerate(scans):
        scan = Scan.model_validate(
            {
                "event_id": f"e{i}",
                "waybill_no": "WB1",
                "facility_id": facility,
                "event_time": iso(at),
                "scan_type": kind,
                **extra,
            }
        )
        detector.feed(scan)
    detector.advance(delivered + 24 * HOUR)
    types = [r.type for topic, r in detector.outputs if topic == "exceptions"]
    assert "DELAY_PREDICTED" not in types
    assert (promised < delivered) == ("DELAYED" in types)


def test_the_backward_pass_memo_is_bounded_and_agrees_with_the_pass():
    from parcelwatch.detection.eta import _PLANS, _latest_ready, _latest_ready_memo

    ctx = make_ctx()
    start = bj("11-21 12:00")
    for k in range(_PLANS + 10):
        deadline = start + k * MINUTE
        assert _latest_ready_memo(ctx, ROUTE, deadline) == _latest_ready(ctx, ROUTE, deadline)
        assert len(ctx.plans) <= _PLANS
