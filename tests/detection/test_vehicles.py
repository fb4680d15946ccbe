"""The vehicle side: conditions change rarely, and only changes are published."""

from datetime import timedelta

from parcelwatch.clock import MINUTE, to_us
from parcelwatch.detection.vehicles import VehicleProcessor
from parcelwatch.schemas import GpsPing
from tests.support.streams import BASE


def ping(minutes, lat, lon, vehicle="T1"):
    return GpsPing(
        vehicle_id=vehicle, event_time=BASE + timedelta(minutes=minutes), lat=lat, lon=lon
    )


def t(minutes):
    return to_us(BASE) + minutes * MINUTE


def _tracked(ctx):
    side = VehicleProcessor(ctx)
    step = side.ping(None, ping(0, 23.0, 114.05), t(0))
    # The first ping is a fact: the vehicle is tracked from here on, and OK.
    assert [(f.status, f.at, f.lat) for f in step.facts] == [("OK", t(0), 23.0)]
    return side, step.state


def test_moving_pings_say_nothing(ctx):
    side, v = _tracked(ctx)
    for i in range(1, 60):
        step = side.ping(v, ping(i, 23.0 + i * 0.01, 114.05), t(i))
        assert step.facts == []
    assert v.status == "OK"


def test_stationary_off_site_is_one_fact_then_moving_again_another(ctx):
    side, v = _tracked(ctx)
    facts = []
    for i in range(1, 61):
        facts += side.ping(v, ping(i, 23.0, 114.05), t(i)).facts
    assert [(f.status, f.since, f.at) for f in facts] == [("STATIONARY", t(0), t(60))]
    moved = side.ping(v, ping(61, 23.2, 114.05), t(61)).facts
    assert [(f.status, f.at) for f in moved] == [("OK", t(61))]


def test_silence_is_found_by_the_deadline(ctx):
    side, v = _tracked(ctx)
    side.ping(v, ping(1, 23.01, 114.05), t(1))
    assert v.deadline == t(1) + 60 * MINUTE
    step = side.tick(v, t(61))
    assert [(f.status, f.since, f.at) for f in step.facts] == [("SILENT", t(1), t(61))]
    # Nothing more to find until a ping arrives, but when to forget it.
    assert v.deadline == t(1) + 7 * 24 * 60 * MINUTE


def test_a_deadline_passed_before_a_ping_fires_first_at_its_own_time(ctx):
    side, v = _tracked(ctx)
    step = side.ping(v, ping(90, 23.2, 114.05), t(90))
    assert [(f.status, f.at) for f in step.facts] == [("SILENT", t(60)), ("OK", t(90))]


def test_arrival_at_a_facility_is_a_fact(ctx):
    side, v = _tracked(ctx)
    step = side.ping(v, ping(30, 24.002, 114.0), t(30))  # within 1 km of B-HUB
    assert [(f.facility, f.facility_since) for f in step.facts] == [("B-HUB", t(30))]
    assert side.ping(v, ping(31, 24.002, 114.0), t(31)).facts == []  # still there


def test_an_untracked_vehicle_has_no_deadline(ctx):
    side = VehicleProcessor(ctx)
    from parcelwatch.detection.state import VehicleState

    step = side.tick(VehicleState("VAN"), t(100))
    assert step.facts == [] and step.state.deadline is None


def test_stale_and_redelivered_pings_are_ignored(ctx):
    side, v = _tracked(ctx)
    side.ping(v, ping(10, 23.1, 114.05), t(10))
    assert side.ping(v, ping(5, 25.0, 114.05), t(10)).facts == []
    assert side.ping(v, ping(10, 25.0, 114.05), t(10)).facts == []
    assert (v.lat, v.last_ping_at) == (23.1, t(10))


def test_a_backlog_of_old_pings_is_forgotten_a_week_after_it_was_read_not_after_its_time(ctx):
    """On the wall clock a ping of long ago is applied now: silent at once, but not
    forgotten until a week after it arrived (else every ping of a backlog would find a
    forgotten vehicle and be a first ping again)."""
    side = VehicleProcessor(ctx)
    week = 7 * 24 * 60
    now = t(30 * 24 * 60)  # the pings are a month old
    step = side.ping(None, ping(0, 23.0, 114.05), now)
    v = step.state
    assert v.status == "SILENT" and v.deadline == now + week * MINUTE
    step = side.ping(v, ping(5, 23.0, 114.06), now + MINUTE)
    assert not step.forgotten and step.facts == []  # still known: no first ping again
    assert side.tick(step.state, now + MINUTE + week * MINUTE).gone
