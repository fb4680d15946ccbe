"""The vehicle side: conditions change rarely, and only changes fan out."""

from datetime import timedelta

from conftest import BASE

from stream.core.clock import MINUTE, to_us
from stream.core.state import ManifestChange
from stream.core.vehicles import VehicleProcessor
from stream.schemas import GpsPing


def ping(minutes, lat, lon, vehicle="T1"):
    return GpsPing(
        vehicle_id=vehicle, event_time=BASE + timedelta(minutes=minutes), lat=lat, lon=lon
    )


def t(minutes):
    return to_us(BASE) + minutes * MINUTE


def _loaded(ctx, waybills=("W1", "W2")):
    side = VehicleProcessor(ctx)
    v = side.ping(None, ping(0, 23.0, 114.05), t(0)).state
    for wb in waybills:
        step = side.manifest(v, ManifestChange("T1", wb, True, t(0)), t(0))
        assert [s.waybill_no for s in step.signals] == [wb]  # snapshot to the newcomer
    return side, v


def test_moving_pings_signal_nothing(ctx):
    side, v = _loaded(ctx)
    for i in range(1, 60):
        step = side.ping(v, ping(i, 23.0 + i * 0.01, 114.05), t(i))
        assert step.signals == []
    assert v.status == "OK"


def test_stationary_off_site_fans_out_once_then_moving_again(ctx):
    side, v = _loaded(ctx)
    signals = []
    for i in range(1, 61):
        signals += side.ping(v, ping(i, 23.0, 114.05), t(i)).signals
    assert [(s.waybill_no, s.status) for s in signals] == [
        ("W1", "STATIONARY"),
        ("W2", "STATIONARY"),
    ]
    assert signals[0].since == t(0)
    moved = side.ping(v, ping(61, 23.2, 114.05), t(61)).signals
    assert [s.status for s in moved] == ["OK", "OK"]


def test_silence_is_found_by_the_deadline(ctx):
    side, v = _loaded(ctx)
    side.ping(v, ping(1, 23.01, 114.05), t(1))
    assert v.deadline == t(1) + 60 * MINUTE
    step = side.tick(v, t(61))
    assert {s.status for s in step.signals} == {"SILENT"}
    assert step.signals[0].since == t(1)
    assert v.deadline is None  # nothing more to find until a ping arrives


def test_arrival_at_a_facility_is_signalled(ctx):
    side, v = _loaded(ctx)
    step = side.ping(v, ping(30, 24.002, 114.0), t(30))  # within 1 km of B-HUB
    assert {(s.facility, s.facility_since) for s in step.signals} == {("B-HUB", t(30))}
    assert side.ping(v, ping(31, 24.002, 114.0), t(31)).signals == []  # still there


def test_untracked_vehicle_never_signals(ctx):
    side = VehicleProcessor(ctx)
    step = side.manifest(None, ManifestChange("VAN", "W1", True, t(0)), t(0))
    assert step.signals == [] and step.state.deadline is None


def test_stale_and_redelivered_pings_are_ignored(ctx):
    side, v = _loaded(ctx)
    side.ping(v, ping(10, 23.1, 114.05), t(10))
    side.ping(v, ping(5, 25.0, 114.05), t(10))
    side.ping(v, ping(10, 25.0, 114.05), t(10))
    assert (v.lat, v.last_ping_at) == (23.1, t(10))


def test_an_empty_vehicle_keeps_its_history_for_late_boardings(ctx):
    """With no parcel aboard the checks still run: a parcel whose boarding the waybill
    side reports late must hear of a silence that began while the manifest was empty."""
    side, v = _loaded(ctx)
    for wb in ("W1", "W2"):
        side.manifest(v, ManifestChange("T1", wb, False, t(1)), t(1))
    side.ping(v, ping(2, 23.01, 114.05), t(2))
    assert v.manifest == {} and v.deadline == t(2) + 60 * MINUTE
    assert side.tick(v, t(62)).signals == []  # nobody to tell ...
    side.ping(v, ping(90, 23.2, 114.05), t(90))
    late = side.manifest(v, ManifestChange("T1", "W3", True, t(30)), t(90)).signals
    assert [(s.status, s.at) for s in late] == [("SILENT", t(62)), ("OK", t(90))]


def test_a_late_boarding_is_told_the_vehicles_history(ctx):
    """The vehicle side read ahead: a parcel that boarded before the vehicle stopped is
    told the stop, with its real times, not just today's condition."""
    side = VehicleProcessor(ctx)
    v = side.ping(None, ping(0, 23.0, 114.05), t(0)).state
    for i in range(1, 70):
        side.ping(v, ping(i, 23.0, 114.05), t(i))  # standing off-site since minute 0
    assert v.status == "STATIONARY"
    step = side.manifest(v, ManifestChange("T1", "W1", True, t(0)), t(0))
    assert [(s.status, s.at) for s in step.signals] == [("STATIONARY", t(60))]


def test_a_change_from_the_vehicles_future_waits_for_its_time(ctx):
    side, v = _loaded(ctx, waybills=("W1",))
    side.ping(v, ping(1, 23.01, 114.05), t(1))
    step = side.manifest(v, ManifestChange("T1", "W1", False, t(200)), t(1))
    assert "W1" in v.manifest and v.deadline == t(61)  # silence check comes first
    step = side.tick(v, t(61))
    assert [(s.waybill_no, s.status) for s in step.signals] == [("W1", "SILENT")]
    side.tick(v, t(200))
    assert v.manifest == {} and not v.pending


def test_a_redelivered_boarding_sends_nothing_again(ctx):
    """At least once: after a fail-over the manifest topic is read again from the last
    commit. The parcel has heard everything since its boarding; sending the history again
    would replay old conditions over newer ones."""
    side, v = _loaded(ctx, ("W1",))
    for i in range(1, 61):
        side.ping(v, ping(i, 23.0, 114.05), t(i))
    assert v.status == "STATIONARY"
    again = side.manifest(v, ManifestChange("T1", "W1", True, t(0)), t(61))
    assert again.signals == []
    assert list(v.manifest) == ["W1"]
