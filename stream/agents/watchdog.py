"""Input partitions the consumer stopped delivering, sought back to what is not done.

Faust drops records it has fetched when its flow stops around a rebalance or a recovery
(`Consumer.getmany` breaks out of a fetched batch; `_drain_messages` moves its read
offset on past a record whose delivery was cut short). The consumer's position is then
past records no agent saw, and until the next rebalance seeks it back nothing asks for
them again: seen after a kill -9 and restart, a scans partition three records short of
its end for good, its parcels' deadlines held back with it. A partition behind its
high-water mark whose next offset to process has not moved for `stuck_s` is sought back
to that offset; what was in flight after all is read twice, which every input allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Source = tuple[str, int]


class Watchdog:
    def __init__(
        self,
        sources: Callable[[], Iterable[Source]],
        position: Callable[[Source], int | None],
        highwater: Callable[[Source], int | None],
        stuck_s: float = 15.0,
    ) -> None:
        self._sources = sources
        self._position = position
        self._highwater = highwater
        self.stuck_s = stuck_s
        self._since: dict[Source, tuple[int, float]] = {}  # source -> (position, since)

    def stuck(self, now: float) -> list[tuple[Source, int]]:
        """(source, offset to seek to) for each partition behind its end whose position
        has not moved for `stuck_s` (`now`: a monotonic clock in seconds). A partition
        sought is given `stuck_s` again before it is sought once more."""
        out: list[tuple[Source, int]] = []
        seen: dict[Source, tuple[int, float]] = {}
        for source in self._sources():
            position, high = self._position(source), self._highwater(source)
            if position is None or high is None or position >= high:
                continue  # caught up (or nothing known yet): nothing is missing
            before = self._since.get(source)
            if before is None or before[0] != position:
                seen[source] = (position, now)
            elif now - before[1] >= self.stuck_s:
                out.append((source, position))
                seen[source] = (position, now)
            else:
                seen[source] = before
        self._since = seen
        return out

    def reset(self) -> None:
        """A rebalance: Faust seeks every partition to its commit itself."""
        self._since.clear()
