"""The live clock: the wall clock, or an event-time low watermark.

On the event clock an input is applied at its own event time (each key's time still
never goes back, see the core), and deadlines fire when the *low* watermark passes them:
the minimum, over the scan and GPS partitions this worker has seen, of the latest event
time in each. A worker catching up on a backlog reads partitions at different speeds; a
plain maximum would run ahead of the slowest partition and fire deadlines for parcels
whose scans are still unread. The waybills topic is left out: orders arrive only when
parcels are created, and would hold the watermark back for the rest of their journeys.
"""

from __future__ import annotations

import time


class LiveClock:
    def __init__(self, mode: str, idle_s: float = 5.0) -> None:
        self.event_mode = mode == "event"
        self.idle_us = int(idle_s * 1_000_000)
        self._latest: dict[tuple[str, int], int] = {}
        self._heard: dict[tuple[str, int], int] = {}  # wall time of the last message

    def assign(self, sources: set[tuple[str, int]]) -> None:
        """Partitions this worker now reads: each holds the watermark until it has
        delivered a record or stayed idle for `idle_s`."""
        now = wall_us()
        for source in sources:
            self._heard.setdefault(source, now)

    def forget(self, sources: set[tuple[str, int]]) -> None:
        """Partitions revoked in a rebalance no longer hold the watermark."""
        for source in sources:
            self._latest.pop(source, None)
            self._heard.pop(source, None)

    def observe(self, source: tuple[str, int] | None, event_time: int) -> int:
        """Time for applying an input that happened at `event_time`; `source` (topic,
        partition) feeds the watermark (None for inputs that do not)."""
        if not self.event_mode:
            return wall_us()
        if source is not None:
            previous = self._latest.get(source)
            if previous is None or event_time > previous:
                self._latest[source] = event_time
            self._heard[source] = wall_us()
        return event_time

    def for_key(self, key_clock: int | None, event_time: int) -> int:
        """Time for applying a message from the other side (a vehicle signal, a manifest
        change): on the event clock the receiving key's own time, so one side reading
        its backlog faster never pushes the other side's clock ahead of its own inputs
        (the core holds a signal from the future until the key's time reaches it)."""
        if not self.event_mode:
            return wall_us()
        return key_clock if key_clock is not None else event_time

    def for_tick(self, deadline: int) -> int:
        """Time for a deadline tick: the deadline itself on the event clock (as replay
        fires each deadline at its own time), the wall clock otherwise."""
        return deadline if self.event_mode else wall_us()

    def now(self) -> int | None:
        """The time up to which deadlines may fire: on the event clock the low watermark
        over the partitions that are still delivering (idle ones have nothing pending);
        None while an assigned partition has not been heard from yet."""
        if not self.event_mode:
            return wall_us()
        wall = wall_us()
        low = None
        for source, heard in self._heard.items():
            latest = self._latest.get(source)
            if wall - heard >= self.idle_us:
                continue  # idle: caught up, it holds nothing back
            if latest is None:
                return None  # not heard from yet
            if low is None or latest < low:
                low = latest
        if low is None:  # everything idle: all is read, time is the latest seen
            return max(self._latest.values(), default=None)
        return low


def wall_us() -> int:
    return time.time_ns() // 1000
