"""Arrival stamps: replay's clock as it reaches each line of a file, the stamp
`parcelwatch produce` puts on a record so the event clock applies it when replay would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from parcelwatch.clock import to_us
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.guard import ClockGuard, record_time
from parcelwatch.edge.files import envelopes, parse_line
from parcelwatch.schemas import GpsBatch


class ArrivalClock:
    """Replay's clock over a replay file, line by line: the latest event time of the
    records replay accepts (valid, and within `max_clock_jump_hours` of the clock).

    `produce` stamps it on each record (header ARRIVAL_HEADER), and the worker on the
    event clock applies the record no earlier than that: a scan uploaded hours late is
    applied when it arrived, as replay applies it, not at its own time. Without the
    stamp (another producer) a record is applied at its own time and its parcel's.
    A scan the core refuses (an event id reused with other content, a cap) moves
    replay's clock no further but moves this one: such records are rare, and only the
    detected_at of what the next records of the stream say can differ."""

    def __init__(self, network: Any, rules: Any) -> None:

        self.now: int | None = None
        self._network = network
        self._guard = ClockGuard(rules)

    def before(self, line: bytes) -> int | None:
        """The clock as replay reaches `line`; then moved as replay moves it."""

        before = self.now
        try:
            record = parse_line(line, self._network)
            if isinstance(record, GpsBatch):
                times = [to_us(p.event_time) for p in record.as_pings()]
            else:
                times = [record_time(record)]
            self._guard.on_event_clock_each(times, before)
        except InvalidRecord:
            return before
        latest = max(times)
        self.now = latest if before is None else max(before, latest)
        return before


def read_with_arrival(
    path: Path, arrival: ArrivalClock, skipped: Callable[[int, int], None] | None = None
) -> Iterator[tuple[str, bytes | None, bytes, float | None, int | None]]:
    """`read_replay_file`, each record with replay's clock as it reaches the line (see
    ArrivalClock): what `produce` stamps on it."""
    for line, topic, key, raw, when in envelopes(path, skipped):
        yield topic, key, raw, when, arrival.before(line)
