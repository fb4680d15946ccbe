"""Clock times of the planning data: departures and delivery windows in local time."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcelwatch.clock import to_datetime, to_us
from parcelwatch.network.timetable import Departures, Window, fixed_offset_us, parse_clock


def us(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


def local(t: int, tz: str = "Asia/Shanghai") -> str:
    return to_datetime(t).astimezone(ZoneInfo(tz)).isoformat()


def test_parse_clock():
    assert parse_clock("00:00") == 0
    assert parse_clock("23:59") == 23 * 60 + 59
    assert parse_clock("24:00", allow_midnight_end=True) == 1440
    for bad in ("24:00", "7:00", "07:60", "0700", " 07:00", "07:00:00", 700, None):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_clock(bad)


def test_fixed_offset_zones_are_recognised():
    assert fixed_offset_us("Asia/Shanghai") == 8 * 3600 * 1_000_000
    assert fixed_offset_us("Asia/Kolkata") == 5.5 * 3600 * 1_000_000
    assert fixed_offset_us("Europe/Berlin") is None  # daylight saving


def test_next_and_last_departure_in_shanghai():
    table = Departures([parse_clock("15:00"), parse_clock("03:00")], "Asia/Shanghai")
    assert local(table.first_at_or_after(us("2026-11-20T03:00:00+08:00"))) == (
        "2026-11-20T03:00:00+08:00"
    )
    assert local(table.first_at_or_after(us("2026-11-20T03:00:00.000001+08:00"))) == (
        "2026-11-20T15:00:00+08:00"
    )
    # After the last departure of the day: the first one tomorrow (across midnight).
    assert local(table.first_at_or_after(us("2026-11-20T23:59:00+08:00"))) == (
        "2026-11-21T03:00:00+08:00"
    )
    assert local(table.last_at_or_before(us("2026-11-20T14:59:59+08:00"))) == (
        "2026-11-20T03:00:00+08:00"
    )
    assert local(table.last_at_or_before(us("2026-11-20T02:00:00+08:00"))) == (
        "2026-11-19T15:00:00+08:00"
    )


def test_departures_follow_daylight_saving():
    # New York falls back on 2026-11-01: 09:00 EDT is 13:00 UTC, the next day 14:00 UTC.
    table = Departures([parse_clock("09:00")], "America/New_York")
    first = table.first_at_or_after(us("2026-10-31T12:00:00+00:00"))
    assert first == us("2026-10-31T13:00:00+00:00")
    second = table.first_at_or_after(first + 1)
    assert second == us("2026-11-01T14:00:00+00:00")
    assert table.last_at_or_before(second - 1) == first


def test_window_edges_start_inclusive_end_exclusive():
    window = Window(parse_clock("08:00"), parse_clock("18:00"), "Asia/Shanghai")
    start, end = us("2026-11-20T08:00:00+08:00"), us("2026-11-20T18:00:00+08:00")
    assert window.first_inside_at_or_after(start - 1) == start
    assert window.first_inside_at_or_after(start) == start
    assert window.first_inside_at_or_after(end - 1) == end - 1
    assert local(window.first_inside_at_or_after(end)) == "2026-11-21T08:00:00+08:00"
    assert window.last_inside_at_or_before(end) == end - 1
    assert window.last_inside_at_or_before(start) == start
    assert local(window.last_inside_at_or_before(start - 1) + 1) == "2026-11-19T18:00:00+08:00"


def test_window_across_midnight():
    window = Window(parse_clock("22:00"), parse_clock("06:00"), "Asia/Tokyo")
    assert window.label() == ["22:00", "06:00"]
    t = us("2026-11-20T03:00:00+09:00")
    assert window.first_inside_at_or_after(t) == t
    assert local(
        window.first_inside_at_or_after(us("2026-11-20T06:00:00+09:00")), "Asia/Tokyo"
    ) == ("2026-11-20T22:00:00+09:00")


@given(
    st.lists(st.integers(0, 1439), min_size=1, max_size=8),
    st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"]),
    st.integers(us("2026-01-01T00:00:00+00:00"), us("2027-01-01T00:00:00+00:00")),
)
def test_departure_search_agrees_with_a_brute_force_scan(minutes, tz, t):
    table = Departures(minutes, tz)
    zone = ZoneInfo(tz)
    day = to_datetime(t).astimezone(zone).date()
    candidates = sorted(
        to_us(datetime(d.year, d.month, d.day, m // 60, m % 60, tzinfo=zone))
        for d in (day.fromordinal(day.toordinal() + k) for k in range(-2, 3))
        for m in minutes
    )
    assert table.first_at_or_after(t) == min(c for c in candidates if c >= t)
    assert table.last_at_or_before(t) == max(c for c in candidates if c <= t)


@given(
    st.integers(0, 1439),
    st.integers(1, 1439),
    st.sampled_from(["Asia/Shanghai", "Asia/Kolkata", "America/New_York", "Europe/London"]),
    st.integers(us("2026-01-01T00:00:00+00:00"), us("2027-01-01T00:00:00+00:00")),
)
def test_window_search_agrees_with_a_brute_force_scan(start, length, tz, t):
    end = (start + length) % 1440 or 1440
    window = Window(start, end, tz)
    zone = ZoneInfo(tz)
    day = to_datetime(t).astimezone(zone).date()

    def at(d, minutes):
        d = d.fromordinal(d.toordinal() + minutes // 1440)
        m = minutes % 1440
        return to_us(datetime(d.year, d.month, d.day, m // 60, m % 60, tzinfo=zone))

    spans = [
        (at(d, start), at(d, start + length))
        for d in (day.fromordinal(day.toordinal() + k) for k in range(-2, 3))
    ]
    first = min(max(s, t) for s, e in spans if e > t)
    last = max(min(t, e - 1) for s, e in spans if s <= t)
    assert window.first_inside_at_or_after(t) == first
    assert window.last_inside_at_or_before(t) == last
