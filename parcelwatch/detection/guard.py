"""The clock guard (CONTRACT §7): one device's wrong clock must not move time for
everyone. A record dated far ahead of the clock would move it there, and every parcel's
deadlines would fire at once; so such a record is refused, and the clock only ever moves
on records that pass. Replay and both live clocks ask the same questions here.
"""

from __future__ import annotations

from parcelwatch.clock import MINUTE, hours_us, iso, to_us
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.schemas import GpsPing, Scan, Waybill
from parcelwatch.settings import RuleSettings


def record_time(record: Waybill | Scan | GpsPing) -> int:
    """The moment a record happened, in µs: created_at for a waybill, else event_time."""
    return to_us(record.created_at if isinstance(record, Waybill) else record.event_time)


class ClockGuard:
    __slots__ = ("future", "jump")

    def __init__(self, settings: RuleSettings) -> None:
        self.jump = hours_us(settings.max_clock_jump_hours)
        self.future = round(settings.max_future_minutes * MINUTE)

    def on_event_clock(self, when: int, clock: int | None) -> None:
        """Refuse a record dated more than `max_clock_jump_hours` ahead of the event clock
        (None: nothing has set it yet, and the first record does)."""
        if clock is not None and when - clock > self.jump:
            raise InvalidRecord(
                "clock_jump",
                f"dated {iso(when)}, {_span(when - clock)} ahead of the clock at {iso(clock)} "
                f"(the limit is {_span(self.jump)})",
            )

    def on_event_clock_each(self, times: list[int], clock: int | None) -> None:
        """`on_event_clock` for inputs applied one after another (a GPS batch's pings in
        time order): each is measured against the clock as the ones before it leave it."""
        for when in times:
            self.on_event_clock(when, clock)
            clock = when if clock is None else max(clock, when)

    def on_wall_clock(self, when: int, wall: int) -> None:
        """Refuse a record dated more than `max_future_minutes` ahead of the wall clock."""
        if when - wall > self.future:
            raise InvalidRecord(
                "future",
                f"dated {iso(when)}, {_span(when - wall)} ahead of the wall clock at "
                f"{iso(wall)} (the limit is {_span(self.future)})",
            )


def _span(us: int) -> str:
    minutes = us // MINUTE
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 96 else f"{hours // 24} days"
