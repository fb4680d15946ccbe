"""Input records the consumer skipped or stopped delivering, sought back to what is not
done.

Faust drops records it has fetched when its flow stops around a rebalance or a recovery
(`Consumer.getmany` breaks out of a fetched batch; `_drain_messages` moves its read
offset on past a record whose delivery was cut short). The consumer's position is then
past records no agent saw, and nothing asks for them again until the next rebalance.
Invariant kept here: every offset of an assigned partition is processed, in order.
A partition behind its high-water mark whose next offset to process has not moved for
`stuck_s` is sought back to that offset; what was in flight after all is read twice,
which every input allows.

The same drop can leave a hole instead of a stall: records delivered past the next
offset to process, with the ones between never delivered. So a record past the next
offset to process is not processed (`Gaps`): its partition is sought back to that
offset first. A hole the log really has (a transaction marker, a record compaction
removed) shows itself by the same record coming first again after the
seek, and is then accepted.
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
            if high is None:
                continue  # nothing known of its end yet
            if position is None:
                # Never read, never committed: it is read from its start. A partition
                # the consumer never fetched from after a restart stays so otherwise.
                position = 0
            if position >= high:
                continue  # caught up: nothing is missing
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


class Gaps:
    """Holds back records delivered past a partition's next offset to process."""

    def __init__(
        self, position: Callable[[Source], int | None], markers: dict[str, int] | None = None
    ) -> None:
        self._position = position
        """The next offset to process where nothing was admitted here yet (what was
        processed, else the group's commit; None: unknown, anything goes)."""
        self._markers = markers or {}
        """Topic -> how many offsets a hole there may span and be taken for commit
        markers at once: a topic written in transactions by that many producers, read
        committed, has up to one marker per producer between two records. A larger
        hole (an aborted transaction, a lapse) is sought back as any other."""
        self._next: dict[Source, int] = {}  # after the records admitted
        # source -> (offset expected, first offset delivered past it, sought back yet)
        self._holes: dict[Source, tuple[int, int, bool]] = {}

    def admit(self, source: Source, offset: int) -> bool:
        """Whether the record at `offset` may be processed now (the next one, or one
        read again); False: it is past a hole, see `to_seek`."""
        expected = self._next.get(source)
        if expected is None:
            expected = self._position(source)
        if expected is None or offset <= expected + self._markers.get(source[0], 0):
            self._holes.pop(source, None)
            self._next[source] = offset + 1
            return True
        hole = self._holes.get(source)
        if hole is not None and hole[0] == expected and hole[2] and offset == hole[1]:
            del self._holes[source]  # first again after the seek: the log has the hole
            self._next[source] = offset + 1
            return True
        if hole is None or hole[0] != expected:
            self._holes[source] = (expected, offset, False)
        return False

    def to_seek(self) -> list[tuple[Source, int]]:
        """(source, offset) for each hole found since the last call: seek it there."""
        out = []
        for source, (expected, first, sought) in self._holes.items():
            if not sought:
                out.append((source, expected))
                self._holes[source] = (expected, first, True)
        return out

    def reset(self) -> None:
        """A rebalance: the partitions start again from their commits."""
        self._holes.clear()
        self._next.clear()
