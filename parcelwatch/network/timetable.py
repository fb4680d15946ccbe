"""Clock times of the planning data (CONTRACT §3): a direction's departures and an
outlet's delivery window, both local times of a facility's time zone, every day.

The planned ETA asks two questions many times per parcel: "the first departure at or
after t" and "the last departure at or before t" (and the same of a window). Both are
answered on integer microseconds (UTC) with no datetime arithmetic when the zone keeps
one UTC offset over 2000–2100 (Asia/Shanghai and most of the world's zones today); zones
with daylight saving go through zoneinfo, a day's instants cached.
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from parcelwatch.clock import EPOCH, MINUTE, SECOND

DAY = 24 * 60 * MINUTE
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(text: object, *, allow_midnight_end: bool = False) -> int:
    """Minutes after local midnight of an `HH:MM` text ("24:00" only as a window's end)."""
    if allow_midnight_end and text == "24:00":
        return 24 * 60
    match = _CLOCK.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a clock time HH:MM (00:00-23:59)")
    return int(match[1]) * 60 + int(match[2])


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=256)
def fixed_offset_us(tz: str) -> int | None:
    """The zone's UTC offset in µs if it is the same on every half-year sample from 2000
    to 2100 (so no daylight saving and no change of offset), else None."""
    zone = ZoneInfo(tz)
    offsets = {
        datetime(year, month, 1, 12, tzinfo=zone).utcoffset()
        for year in range(2000, 2101)
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return None if offset is None else int(offset.total_seconds()) * SECOND


class LocalDays:
    """Local calendar days of one time zone as UTC instants."""

    __slots__ = ("_zone", "offset", "tz")

    def __init__(self, tz: str) -> None:
        self.tz = tz
        self._zone = ZoneInfo(tz)
        self.offset = fixed_offset_us(tz)
        """The zone's one UTC offset in µs, None for a zone whose offset changes."""

    def day_of(self, t: int) -> int:
        """The local day (days since 1970-01-01) that instant t falls on."""
        if self.offset is not None:
            return (t + self.offset) // DAY
        local = (EPOCH + timedelta(microseconds=t)).astimezone(self._zone)
        return local.date().toordinal() - _EPOCH_ORDINAL

    def instant(self, day: int, minutes: int) -> int:
        """The UTC instant of local clock time `minutes` on local day `day`. A time that
        does not exist (a spring-forward gap) maps past the gap, an ambiguous one to its
        first occurrence (zoneinfo's fold=0)."""
        if self.offset is not None:
            return day * DAY + minutes * MINUTE - self.offset
        d = date.fromordinal(day + _EPOCH_ORDINAL) + timedelta(days=minutes // 1440)
        m = minutes % 1440
        local = datetime(d.year, d.month, d.day, m // 60, m % 60, tzinfo=self._zone)
        return (local.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


class Departures:
    """A direction's timetable: departures at these local clock times every day."""

    __slots__ = ("_days", "_instants", "_local", "_offset", "minutes")

    def __init__(self, minutes: list[int], tz: str) -> None:
        self.minutes = tuple(sorted(set(minutes)))
        self._days = LocalDays(tz)
        self._offset = self._days.offset
        self._local = tuple(m * MINUTE for m in self.minutes)  # times of day, µs
        self._instants = lru_cache(maxsize=64)(self._day_instants)

    def _day_instants(self, day: int) -> tuple[int, ...]:
        return tuple(sorted(self._days.instant(day, m) for m in self.minutes))

    def first_at_or_after(self, t: int) -> int:
        offset = self._offset
        if offset is not None:  # one bisect on the time of day, no datetime
            day, tod = divmod(t + offset, DAY)
            local = self._local
            i = bisect.bisect_left(local, tod)
            if i < len(local):
                return day * DAY + local[i] - offset
            return (day + 1) * DAY + local[0] - offset
        day = self._days.day_of(t)
        for d in range(day - 1, day + 3):
            times = self._instants(d)
            i = bisect.bisect_left(times, t)
            if i < len(times):
                return times[i]
        raise AssertionError("every day has a departure")  # pragma: no cover

    def last_at_or_before(self, t: int) -> int:
        offset = self._offset
        if offset is not None:
            day, tod = divmod(t + offset, DAY)
            local = self._local
            i = bisect.bisect_right(local, tod)
            if i:
                return day * DAY + local[i - 1] - offset
            return (day - 1) * DAY + local[-1] - offset
        day = self._days.day_of(t)
        for d in range(day + 1, day - 3, -1):
            times = self._instants(d)
            i = bisect.bisect_right(times, t)
            if i:
                return times[i - 1]
        raise AssertionError("every day has a departure")  # pragma: no cover

    def __repr__(self) -> str:
        return f"Departures({[format_clock(m) for m in self.minutes]}, {self._days.tz})"


class Window:
    """A delivery window: start <= t < end local time every day; an end at or before the
    start crosses midnight (22:00-06:00)."""

    __slots__ = ("_days", "_local", "_offset", "_spans", "end", "start")

    def __init__(self, start: int, end: int, tz: str) -> None:
        self.start = start
        self.end = end if end > start else end + 1440
        self._days = LocalDays(tz)
        self._offset = self._days.offset
        self._local = (start * MINUTE, self.end * MINUTE)  # from local midnight, µs
        self._spans = lru_cache(maxsize=64)(self._span)

    def _span(self, day: int) -> tuple[int, int]:
        """Local day `day`'s window as UTC instants."""
        offset = self._offset
        if offset is not None:
            base = day * DAY - offset
            return base + self._local[0], base + self._local[1]
        return self._days.instant(day, self.start), self._days.instant(day, self.end)

    def first_inside_at_or_after(self, t: int) -> int:
        """The first moment at or after t inside the window."""
        offset = self._offset
        if offset is not None:  # the day before's window (across midnight), then today's
            day = (t + offset) // DAY
            for d in (day - 1, day):
                start, end = self._span(d)
                if end > t:
                    return start if start > t else t
            return self._span(day + 1)[0]
        day = self._days.day_of(t)
        for d in range(day - 1, day + 3):
            start, end = self._spans(d)
            if end > t:
                return start if start > t else t
        raise AssertionError("every day has a window")  # pragma: no cover

    def last_inside_at_or_before(self, t: int) -> int:
        """The last moment (µs) at or before t inside the window."""
        offset = self._offset
        if offset is not None:  # today's window, else the day before's: it began by then
            day = (t + offset) // DAY
            start, end = self._span(day)
            if start > t:
                start, end = self._span(day - 1)
            return t if t < end else end - 1
        day = self._days.day_of(t)
        for d in range(day + 1, day - 3, -1):
            start, end = self._spans(d)
            if start <= t:
                return t if t < end else end - 1
        raise AssertionError("every day has a window")  # pragma: no cover

    def label(self) -> list[str]:
        end = self.end - 1440 if self.end > 1440 else self.end
        return [format_clock(self.start), format_clock(end)]
