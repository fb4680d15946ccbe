"""Time inside the core: integer microseconds since the Unix epoch (UTC).

Integers keep deadline arithmetic exact and state small. The core never reads the wall
clock: `now` is always passed in. `EventClock` is the watermark used by replay and
backfills: it only moves forward, to the latest event time seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime (exact)."""
    return (moment - EPOCH) // _ONE_US


def to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso(us: int) -> str:
    """ISO-8601 text in UTC with an explicit offset, as every output timestamp."""
    return (EPOCH + timedelta(microseconds=us)).isoformat()


def hours_us(hours: float) -> int:
    return round(hours * HOUR)


class EventClock:
    """A watermark: the latest event time seen, never moving backwards."""

    __slots__ = ("now",)

    def __init__(self, start: int | None = None) -> None:
        self.now = start

    def advance(self, event_time: int) -> int:
        if self.now is None or event_time > self.now:
            self.now = event_time
        return self.now
