"""The expected delivery (detection/expected.py) as a pure function over hand-built
learned models and the timetable of tests/support/planned.py: O -> H1 -> H2 -> D, lanes
1 h, 5 h, 1 h; H1 -> H2 at 02:00 and 14:00, H2 -> D at 06:00 and 12:00; D delivers
09:00-17:00 and hands parcels in 1 h."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelwatch.detection.expected import expected_delivery
from parcelwatch.settings import QUANTILE_LEVELS, ExpectedDelivery
from tests.support.planned import bj, make_ctx, parcel, show

TEN = len(QUANTILE_LEVELS)


def model(
    pickup: float = 1.0,
    late: float = 0.0,
    last_mile: list[float] | None = None,
    missed: float = 0.0,
    missed_ahead: float | None = None,
) -> ExpectedDelivery:
    return ExpectedDelivery(
        pickup_hours=[pickup] * TEN,
        arrival_late_hours=[late] * TEN,
        last_mile_hours={"*": last_mile or [2.0] * TEN},
        missed_by_slack=[
            (0.5, missed, missed if missed_ahead is None else missed_ahead),
            (240.0, 0.0, 0.0),
        ],
    )


def window(w, ctx, now: str) -> tuple[str | None, ...]:
    got = expected_delivery(w, ctx, bj(now))
    assert got is not None
    return tuple(show(t) for t in got)


def test_with_no_spread_the_window_is_the_plan_with_the_learned_figures():
    ctx = make_ctx(expected_delivery=model())
    # At H1 at 08:00, ready 10:00: the 14:00 truck, H2 19:00, ready 21:00; the 06:00 van,
    # D 07:00, ready 08:00; out at 09:00 when the round opens; 2 h later.
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    assert window(w, ctx, "11-20 08:00") == ("11-21 11:00",) * 3


def test_a_connection_often_missed_widens_the_window_to_the_next_departure():
    ctx = make_ctx(expected_delivery=model(missed=0.3))
    # Ready 13:50, ten minutes of slack before the 14:00 truck: missed 3 times in 10,
    # then the 02:00 truck, H2 07:00, ready 09:00, the 12:00 van, D 13:00, ready 14:00,
    # out at once, delivered 16:00.
    w = parcel("HUB_ARRIVAL", "H1", "11-20 11:50")  # hubs hand parcels in 2 h
    assert window(w, ctx, "11-20 11:50") == ("11-21 11:00", "11-21 11:00", "11-21 16:00")
    # Plenty of slack (ready 10:00): the learned share for it is 0, the window closes.
    early = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    assert window(early, ctx, "11-20 08:00") == ("11-21 11:00",) * 3


def test_a_connection_ahead_is_weighed_by_the_ahead_share():
    # On the lane to H2, arriving 19:00 (ready 21:00): the 06:00 van has 9 h of slack.
    # Make the first leg tight instead: H2 -> D leaves 06:00; a lane arrival at 04:30
    # (ready 06:30) misses it by plan, so a parcel planned on the 02:00 truck from H1
    # (H2 07:00, ready 09:00: 3 h before the 12:00 van) is not tight. Tightness ahead:
    # at O ready 09:40 for the 10:00 van, H1 11:00, ready 13:00, the 14:00 truck has
    # 1 h of slack: not in the 0.5 h bucket. So only "here" at O is tight.
    ctx = make_ctx(expected_delivery=model(missed=0.0, missed_ahead=1.0))
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    assert window(w, ctx, "11-20 08:00") == ("11-21 11:00",) * 3  # no tight hop ahead


def test_out_for_delivery_the_window_is_the_learned_last_mile_given_not_yet_delivered():
    spread = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    ctx = make_ctx(expected_delivery=model(last_mile=spread))
    w = parcel("OUT_FOR_DELIVERY", "D", "11-20 10:00")
    assert window(w, ctx, "11-20 10:00") == ("11-20 10:30", "11-20 12:30", "11-20 14:30")
    # Not delivered by 13:00: only the later half of history is still possible.
    assert window(w, ctx, "11-20 13:00") == ("11-20 13:30", "11-20 14:00", "11-20 15:00")
    # Later than anything history saw: any moment now.
    assert window(w, ctx, "11-20 16:00") == ("11-20 16:00",) * 3


def test_before_pickup_the_learned_pickup_time_is_used():
    ctx = make_ctx(expected_delivery=model(pickup=2.0))
    w = parcel()  # created 08:00: picked up 10:00, ready 11:00, the 16:00 van, H1 17:00,
    # ready 19:00, the 02:00 truck, H2 07:00, ready 09:00, the 12:00 van, D 13:00,
    # ready 14:00, out at once, delivered 16:00.
    assert window(w, ctx, "11-20 08:00") == ("11-21 16:00",) * 3


def test_no_learned_model_or_a_delivered_parcel_has_none():
    w = parcel("HUB_ARRIVAL", "H1", "11-20 08:00")
    assert expected_delivery(w, make_ctx(), bj("11-20 08:00")) is None
    ctx = make_ctx(expected_delivery=model())
    w.terminal = "DELIVERED"
    assert expected_delivery(w, ctx, bj("11-20 08:00")) is None


def test_a_badly_ordered_model_is_refused():
    with pytest.raises(ValueError, match="must not decrease"):
        model(last_mile=[3.0, 2.0] + [4.0] * 8)
    with pytest.raises(ValueError, match="pooled"):
        ExpectedDelivery(
            pickup_hours=[1.0] * TEN,
            arrival_late_hours=[0.0] * TEN,
            last_mile_hours={"D": [2.0] * TEN},
            missed_by_slack=[(1.0, 0.1, 0.1)],
        )


POSITIONS = [
    (None, None, None),
    ("PICKUP", "O", None),
    ("HUB_ARRIVAL", "H1", None),
    ("HUB_DEPARTURE", "H1", "H2"),
    ("HUB_ARRIVAL", "H2", None),
    ("HUB_DEPARTURE", "H2", "D"),
    ("HUB_ARRIVAL", "D", None),
    ("OUT_FOR_DELIVERY", "D", None),
]

levels = st.lists(st.floats(0, 12), min_size=TEN, max_size=TEN).map(sorted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(POSITIONS),
    st.integers(0, 48 * 60),
    st.one_of(st.just(0), st.integers(0, 30 * 60)),
    levels,
    levels,
    st.floats(0, 1),
    st.floats(1, 4),
)
def test_the_window_holds_its_p50_and_a_wider_spread_never_narrows_it(
    position, at_min, later_min, last_mile, late, missed, widen
):
    kind, facility, ahead = position
    at = bj("11-19 00:00") + at_min * 60_000_000
    w = parcel()
    if kind is not None:
        w.last_type, w.last_facility, w.last_at, w.stay_at = kind, facility, at, at
        w.last_next = ahead
    now = max(at, w.created_at) + later_min * 60_000_000
    base = model(last_mile=last_mile, missed=missed)
    base = base.model_copy(update={"arrival_late_hours": late})
    got = expected_delivery(w, make_ctx(expected_delivery=base), now)
    assert got is not None
    assert now <= got.p10 <= got.p50 <= got.p90
    if now > at:
        return  # what is past is known: conditioning may cut either window
    # The same middle, every value farther from it (all of it later where it would go
    # below zero): the window can only grow.
    middle = last_mile[TEN // 2]
    wider = [middle + (v - middle) * widen for v in last_mile]
    wider = [min(240.0, v - min(0.0, wider[0])) for v in wider]
    spread = base.model_copy(update={"last_mile_hours": {"*": wider}})
    wide = expected_delivery(w, make_ctx(expected_delivery=spread), now)
    assert wide is not None
    assert wide.p90 - wide.p10 >= got.p90 - got.p10
