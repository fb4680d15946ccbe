"""The clock guard: a record dated too far ahead is refused and moves no clock."""

import pytest

from parcelwatch.clock import HOUR, MINUTE, to_us
from parcelwatch.detection.detector import Detector
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.guard import ClockGuard
from parcelwatch.schemas import GpsPing
from parcelwatch.settings import RuleSettings
from tests.support.streams import BASE, feed

T0 = to_us(BASE)


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [(0, False), (48 * HOUR, False), (48 * HOUR + 1, True), (-1000 * HOUR, False)],
)
def test_event_clock_refuses_more_than_the_jump(ahead, refused):
    guard = ClockGuard(RuleSettings())
    if refused:
        with pytest.raises(InvalidRecord, match="ahead of the clock") as info:
            guard.on_event_clock(T0 + ahead, T0)
        assert info.value.reason == "clock_jump"
    else:
        guard.on_event_clock(T0 + ahead, T0)


def test_the_first_record_sets_the_clock_and_the_wall_clock_has_its_own_limit():
    guard = ClockGuard(RuleSettings(max_future_minutes=5))
    guard.on_event_clock(T0 + 10**12, None)
    guard.on_wall_clock(T0 + 5 * MINUTE, T0)
    with pytest.raises(InvalidRecord) as info:
        guard.on_wall_clock(T0 + 5 * MINUTE + 1, T0)
    assert info.value.reason == "future"


def _ping(hours: float) -> GpsPing:
    from datetime import timedelta

    return GpsPing(vehicle_id="T1", event_time=BASE + timedelta(hours=hours), lat=24, lon=114)


def test_a_refused_record_moves_no_clock(network):
    detector = Detector(network, RuleSettings(max_clock_jump_hours=10))
    assert feed(detector, _ping(0)) is None
    assert feed(detector, _ping(11)) == "clock_jump"
    assert detector.clock.now == T0
    assert feed(detector, _ping(9)) is None
    assert detector.clock.now == T0 + 9 * HOUR
