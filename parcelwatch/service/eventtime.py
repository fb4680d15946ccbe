"""The live pipeline's clock: the wall clock, or event time with watermarks and marks.

Invariants of the event clock (each a test in tests/agents/test_eventtime.py):
1. An input is applied at its own event time or its arrival stamp, if later; a key's
   time never goes back (the core keeps that).
2. A deadline fires only once the *low watermark* has passed it: the minimum, over the
   partitions this worker reads, of the latest event time read on each. A partition
   holds nothing back once it is idle: quiet for `idle_s` *and* read to its high-water
   mark (one blocked behind a waiting input is not idle).
3. Time flows one way. The vehicle side publishes its progress per GPS partition as
   `Mark`s on every partition of the facts topic, after the facts they cover, never past
   its earliest deadline not yet fired. The waybill side applies a scan at T only once
   the marks say every fact up to T is out (`upstream_reached`), and fires its own
   deadlines no further (`waybill_now`).
4. "Idle" is a promise only a live sender keeps: a mark older than `stale_s` covers only
   what its sender had read (a worker that died, or lost the partition).
5. The vehicle side waits for nobody: an idle GPS partition's deadlines fire as far as
   this worker's inputs have got, and all of them once all it reads is idle (`released`).
6. A parcel's orders and scans come on two topics read at their own speeds, and are
   applied in time order: an input at T waits until the other topic has been read to T
   (`reached`), and waybill deadlines fire no further than both have got.
The wall clock is injected, so all of this runs in tests without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import NamedTuple

Source = tuple[str, int]
"""(topic, partition)."""

UNHEARD = object()
"""A partition assigned but not heard from yet: it holds everything back."""

_UNBOUNDED = 2**62  # internal: what an idle partition holds back to (nothing)


class Mark(NamedTuple):
    """One input partition's progress, as the side reading it reports it."""

    partition: int
    safe: int | None
    """Every output for inputs up to this time is sent (None: not known yet)."""
    latest: int | None
    """The latest input read."""
    idle: bool = False
    """Read to its end and quiet: it holds nothing back while the sender says so."""

    @classmethod
    def from_wire(cls, fields: list) -> Mark:
        if len(fields) == 3:  # an older version's: "idle" was a safe time of 2**62
            partition, safe, latest = fields
            idle = safe == _UNBOUNDED
            return cls(int(partition), None if idle else safe, latest, idle)
        partition, safe, latest, idle = fields
        return cls(int(partition), safe, latest, bool(idle))


class Upstream(NamedTuple):
    """The other side's progress over all its partitions, as far as read here."""

    safe: int | None
    """Every output for inputs up to this time is out; None: nothing is held back."""
    latest: int | None
    """The latest input it has read."""


class LiveClock:
    def __init__(
        self,
        mode: str,
        idle_s: float = 5.0,
        partitions: int = 1,
        caught_up: Callable[[Source], bool] | None = None,
        stale_s: float = 5.0,
        wall: Callable[[], int] | None = None,
    ) -> None:
        self.event_mode = mode == "event"
        self._wall = wall or wall_us
        """The wall clock in µs, injected: tests drive idleness and staleness with a
        fake one instead of sleeping."""
        self.caught_up = caught_up
        """Whether everything on a partition has been read. A partition counts as idle
        only when it is caught up: one blocked behind a waiting input is not idle."""
        self.idle_us = int(idle_s * 1_000_000)
        self.stale_us = int(stale_s * 1_000_000)
        """Age at which an "idle" mark no longer holds (see `_safe`): marks are sent
        at least every second (parcelwatch/service/app.py), so this is several missed marks."""
        self.partitions = partitions
        self._latest: dict[Source, int] = {}
        self._heard: dict[Source, int] = {}  # wall time of the last message
        self._sent: dict[Source, int] = {}  # latest input whose outputs are all sent
        # (marks topic, partition) -> input partition -> (its mark, wall time sent), as read
        self._marks: dict[Source, dict[int, tuple[Mark, int | None]]] = {}
        self._mark_topics: set[str] = set()
        self.reference: int | None = None
        """The latest event time of any input this worker has applied: what the clock
        guard measures a new input against on the event clock (see the handlers'
        `_admit_time`). A refused input never reaches `observe`: it moves nothing."""

    # -- partitions ------------------------------------------------------------------
    def assign(self, sources: set[Source], mark_topics: frozenset[str] = frozenset()) -> None:
        """Partitions this worker now reads: each holds its watermark until it has
        delivered a record or stayed idle for `idle_s`. Partitions of `mark_topics`
        carry the other side's marks instead."""
        now = self._wall()
        self._mark_topics |= mark_topics
        for source in sources:
            if source[0] in self._mark_topics:
                self._marks.setdefault(source, {})
            else:
                self._heard.setdefault(source, now)

    def sources(self) -> list[Source]:
        """The input partitions this worker reads (not the marks')."""
        return list(self._heard)

    def forget(self, sources: set[Source]) -> None:
        """Partitions revoked in a rebalance no longer hold anything back."""
        for source in sources:
            for table in (self._latest, self._heard, self._sent, self._marks):
                table.pop(source, None)

    # -- inputs ----------------------------------------------------------------------
    def observe(self, source: Source | None, event_time: int) -> int:
        """Time for applying an input that happened at `event_time`; `source` (topic,
        partition) feeds the watermark (None for inputs that do not)."""
        if not self.event_mode:
            return self._wall()
        if self.reference is None or event_time > self.reference:
            self.reference = event_time
        if source is not None:
            previous = self._latest.get(source)
            if previous is None or event_time > previous:
                self._latest[source] = event_time
            self._heard[source] = self._wall()
        return event_time

    def restore(self, source: Source, event_time: int) -> None:
        """An input read before a restart or rebalance and kept in state (set aside):
        its partition's watermark has passed it. Only for a partition this worker reads
        now (a standby's state is restored too, and is another worker's to report)."""
        if not self.event_mode or source not in self._heard:
            return
        previous = self._latest.get(source)
        if previous is None or event_time > previous:
            self._latest[source] = event_time
        if self.reference is None or event_time > self.reference:
            self.reference = event_time

    def confirm(self, source: Source) -> None:
        """Everything the latest input from `source` produced has been handed to the
        producer: marks may now cover it."""
        latest = self._latest.get(source)
        if latest is not None:
            self._sent[source] = latest

    def for_key(self, key_clock: int | None, event_time: int) -> int:
        """Time for applying a message from the other side (a vehicle signal, a manifest
        change): on the event clock the receiving key's own time (the core holds a
        message from the key's future until its time reaches it)."""
        if not self.event_mode:
            return self._wall()
        return key_clock if key_clock is not None else event_time

    def for_tick(self, deadline: int) -> int:
        """Time for a deadline tick: the deadline itself on the event clock (as replay
        fires each deadline at its own time), the wall clock otherwise."""
        return deadline if self.event_mode else self._wall()

    # -- this side's watermark -------------------------------------------------------
    def _idle(self, source: Source, heard: int, wall: int) -> bool:
        if wall - heard < self.idle_us:
            return False
        return self.caught_up is None or self.caught_up(source)

    def _low(self, topics: Collection[str]) -> tuple[object, int | None]:
        """(low watermark over the topics' active partitions, None if all are idle, or
        UNHEARD; the latest event time seen on any of them)."""
        wall = self._wall()
        low: object = None
        high = None
        for source, heard in self._heard.items():
            if source[0] not in topics:
                continue
            latest = self._latest.get(source)
            if latest is not None and (high is None or latest > high):
                high = latest
            if self._idle(source, heard, wall):
                continue  # caught up: it holds nothing back
            if latest is None:
                low = UNHEARD
            elif low is not UNHEARD and (low is None or latest < low):  # type: ignore[operator]
                low = latest
        return low, high

    def reached(self, topics: Collection[str], event_time: int) -> bool:
        """Whether every partition of `topics` this worker reads has been read up to
        `event_time`, or is idle: nothing read there from now on comes before it."""
        if not self.event_mode:
            return True
        low, _ = self._low(topics)
        return low is None or (low is not UNHEARD and low >= event_time)  # type: ignore[operator]

    def marks(self, topic: str, horizon: int | None) -> list[Mark]:
        """This side's progress per partition of `topic` it reads. Capped at `horizon`
        (an idle partition too), set by this side's deadlines not yet fired: what those
        will say is not sent yet (see VehicleHandler.marks)."""
        wall = self._wall()
        out: list[Mark] = []
        # Sorted: assign() takes a set, so insertion order is the hash seed's choice, and
        # a marks record should be the same bytes for the same state.
        for source, heard in sorted(self._heard.items()):
            if source[0] != topic:
                continue
            latest, safe = self._latest.get(source), self._sent.get(source)
            idle = self._idle(source, heard, wall)
            if horizon is not None and (idle or (safe is not None and horizon < safe)):
                safe, idle = horizon, False
            out.append(Mark(source[1], safe, latest, idle))
        return out

    # -- the other side's watermark --------------------------------------------------
    def mark(self, source: Source, marks: list[Mark], at: int | None = None) -> None:
        """Marks read on `source` (a partition of a marks topic), sent at wall time `at`."""
        seen = self._marks.setdefault(source, {})
        for mark in marks:
            seen[mark.partition] = (mark, at)

    def _bound(self, mark: Mark, at: int | None, wall: int) -> int | None:
        """What a mark still guarantees: a time, or _UNBOUNDED. "Idle" is a promise
        about the future that only a live sender keeps, by saying it again (every second
        at least): once older than `stale_s` (the sender died, or lost the partition in a
        rebalance) it covers only what the sender had read, its `latest`, until the
        partition's new owner reports."""
        if not mark.idle:
            return mark.safe
        if at is not None and wall - at > self.stale_us:
            return mark.latest
        return _UNBOUNDED

    def upstream(self, topic: str) -> Upstream | None:
        """The other side's progress as far as this worker has read its marks on
        `topic`, over all of its partitions; None while a partition has not reported on
        each marks partition assigned here."""
        safe = _UNBOUNDED
        latest = None
        heard = False
        wall = self._wall()
        for (name, _), seen in self._marks.items():
            if name != topic:
                continue
            heard = True
            for partition in range(self.partitions):
                mark, at = seen.get(partition, (None, None))
                bound = None if mark is None else self._bound(mark, at, wall)
                if bound is None:
                    return None
                safe = min(safe, bound)
                if mark.latest is not None and (latest is None or mark.latest > latest):  # type: ignore[union-attr]
                    latest = mark.latest  # type: ignore[union-attr]
        if not heard:
            return None
        return Upstream(None if safe == _UNBOUNDED else safe, latest)

    def upstream_reached(self, topic: str, event_time: int) -> bool:
        """Whether the other side has sent everything up to `event_time`."""
        if not self.event_mode:
            return True
        up = self.upstream(topic)
        return up is not None and (up.safe is None or up.safe >= event_time)

    # -- deadlines -------------------------------------------------------------------
    @staticmethod
    def _reached(high: int | None, up: Upstream) -> int | None:
        """How far time has got: the latest input here, or what the other side has
        safely got to (replay fires a deadline as soon as any input passes it)."""
        safe, latest = up
        other = latest if safe is None or latest is None else min(safe, latest)
        if other is None:
            return high
        return other if high is None else max(high, other)

    def now(self, topic: str) -> int | None:
        """The time up to which vehicle deadlines may fire: the low watermark of the
        GPS (`topic`) partitions; with all idle, the latest read."""
        if not self.event_mode:
            return self._wall()
        low, high = self._low((topic,))
        if low is UNHEARD:
            return None
        return high if low is None else low  # type: ignore[return-value]

    def released(self, topic: str) -> tuple[set[int], int | None]:
        """The partitions of `topic` read to their end and quiet, and the time up to
        which their keys' deadlines may fire whatever the watermark (event clock only;
        None: all of them). Nothing read later on them comes before: up to the latest
        input this worker has applied on any topic (scans move time on while the GPS is
        quiet, as replay's one clock does), and with every partition it reads idle, all."""
        if not self.event_mode:
            return set(), 0
        wall = self._wall()
        idle = {source for source, heard in self._heard.items() if self._idle(source, heard, wall)}
        partitions = {source[1] for source in idle if source[0] == topic}
        if not partitions:
            return partitions, 0
        if len(idle) == len(self._heard):
            return partitions, None
        return partitions, self.reference if self.reference is not None else 0

    def waybill_now(self, topics: Collection[str], marks_topic: str) -> int | None:
        """The time up to which waybill deadlines may fire: the low watermark of the
        orders and scans (`topics`), never past what the vehicle side has safely sent
        (its marks on `marks_topic`): a vehicle condition changing at T reaches the
        waybill first."""
        if not self.event_mode:
            return self._wall()
        low, high = self._low(topics)
        up = self.upstream(marks_topic)
        if low is UNHEARD or up is None:
            return None
        reached = low if low is not None else self._reached(high, up)
        if reached is None or up.safe is None:
            return reached  # type: ignore[return-value]
        return min(reached, up.safe)  # type: ignore[call-overload]

    def describe(self) -> dict[str, object]:
        """The clock's state, for a status log line."""
        return {
            "latest": {f"{t}/{p}": v for (t, p), v in sorted(self._latest.items())},
            "upstream": {t: self.upstream(t) for t in sorted(self._mark_topics)},
        }


def wall_us() -> int:
    return time.time_ns() // 1000
