"""The live pipeline's clock, one protocol with two implementations chosen at start-up
(`make_clock`): `SystemClock`, the wall clock, and `WatermarkClock`, event time with
watermarks and marks (what makes a live run equal `parcelwatch replay`).

Invariants of the event clock (each a test in tests/service/test_eventtime.py):
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
7. Every wait is bounded by `wait_max_s`: a partition that delivers nothing while not
   caught up, and a partition of the other side that never says how far it got, stop
   holding time back after that long, with a warning saying which (liveness over
   replay's exact order, once something upstream is broken).
The wall clock is injected, so all of this runs in tests without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import ClassVar, NamedTuple, Protocol

import structlog

from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.guard import ClockGuard

Source = tuple[str, int]
"""(topic, partition)."""

log = structlog.get_logger(__name__)

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


class _Low(NamedTuple):
    """This side's watermark over some topics' partitions."""

    unheard: bool
    """A partition assigned and not heard from yet: it holds everything back."""
    low: int | None
    """The least latest event time over the partitions not idle; None: all idle."""
    high: int | None
    """The latest event time read on any of them."""


class LiveClock(Protocol):
    """What the handlers and timers ask of time."""

    in_order: ClassVar[bool]
    """Inputs are applied in event-time order: one that comes early waits (is set aside)
    until `reached` says the other inputs have got to its time."""
    reference: int | None

    def assign(self, sources: set[Source], mark_topics: frozenset[str] = frozenset()) -> None:
        """Partitions this worker now reads (`mark_topics`: those carrying marks)."""

    def forget(self, sources: set[Source]) -> None:
        """Partitions revoked in a rebalance."""

    def sources(self) -> list[Source]:
        """The input partitions this worker reads."""
        ...

    def resumed(self) -> None:
        """A rebalance's tables are recovered: the flow goes on."""

    def admit(self, guard: ClockGuard, times: list[int]) -> None:
        """Raise InvalidRecord for an input dated too far ahead of this clock (§7)."""

    def applied_at(self, guard: ClockGuard, arrival: int | None, when: int) -> int:
        """When an input of time `when`, stamped `arrival` by the broker, is applied."""
        ...

    def observe(self, source: Source | None, event_time: int) -> int:
        """Time for applying an input that happened at `event_time`."""
        ...

    def restore(self, source: Source, event_time: int) -> None:
        """An input kept in state (set aside) across a restart or rebalance."""

    def restored_time(self, source: Source, event_time: int) -> None:
        """A key's state restored on `source`'s partition has got to `event_time`."""

    def confirm(self, source: Source) -> None:
        """Everything the latest input from `source` produced is with the producer."""

    def for_key(self, key_clock: int | None, event_time: int) -> int:
        """Time for applying a message from the other side to a key."""
        ...

    def for_tick(self, deadline: int) -> int:
        """Time for a deadline tick."""
        ...

    def detected_at(self) -> int | None:
        """The wall time outputs are detected at, for the detection delay; None where
        the delay means nothing (event time)."""
        ...

    def reached(self, topics: Collection[str], event_time: int) -> bool:
        """Whether nothing read from now on on `topics` comes before `event_time`."""
        ...

    def upstream_reached(self, topic: str, event_time: int) -> bool:
        """Whether the other side has sent everything up to `event_time`."""
        ...

    def now(self, topic: str) -> int | None:
        """The time up to which vehicle deadlines may fire."""
        ...

    def released(self, topic: str) -> tuple[set[int], int | None]:
        """Partitions of `topic` whose deadlines may fire past the watermark, and how far."""
        ...

    def waybill_now(self, topics: Collection[str], marks_topic: str) -> int | None:
        """The time up to which waybill deadlines may fire."""
        ...

    def marks(self, topic: str, horizon: int | None) -> list[Mark]:
        """This side's progress per partition of `topic`, for the other side."""
        ...

    def mark(self, source: Source, marks: list[Mark], at: int | None = None) -> None:
        """Marks read from the other side."""

    def describe(self) -> dict[str, object] | None:
        """The clock's state for a status log line; None: nothing worth logging."""
        ...


class SystemClock:
    """The wall clock: an input is applied when it is read, a deadline fires when the
    wall clock passes it, nothing waits for anything and no marks are exchanged."""

    in_order: ClassVar[bool] = False
    reference: int | None = None

    def __init__(self, wall: Callable[[], int] | None = None) -> None:
        self._wall = wall or wall_us
        self._sources: set[Source] = set()

    def assign(self, sources: set[Source], mark_topics: frozenset[str] = frozenset()) -> None:
        self._sources |= {source for source in sources if source[0] not in mark_topics}

    def forget(self, sources: set[Source]) -> None:
        self._sources -= sources

    def sources(self) -> list[Source]:
        return sorted(self._sources)

    def resumed(self) -> None:
        pass

    def admit(self, guard: ClockGuard, times: list[int]) -> None:
        wall = self._wall()
        for when in times:
            guard.on_wall_clock(when, wall)

    def applied_at(self, guard: ClockGuard, arrival: int | None, when: int) -> int:
        return when

    def observe(self, source: Source | None, event_time: int) -> int:
        return self._wall()

    def restore(self, source: Source, event_time: int) -> None:
        pass

    def restored_time(self, source: Source, event_time: int) -> None:
        pass

    def confirm(self, source: Source) -> None:
        pass

    def for_key(self, key_clock: int | None, event_time: int) -> int:
        return self._wall()

    def for_tick(self, deadline: int) -> int:
        return self._wall()

    def detected_at(self) -> int | None:
        return self._wall()

    def reached(self, topics: Collection[str], event_time: int) -> bool:
        return True

    def upstream_reached(self, topic: str, event_time: int) -> bool:
        return True

    def now(self, topic: str) -> int | None:
        return self._wall()

    def released(self, topic: str) -> tuple[set[int], int | None]:
        return set(), 0

    def waybill_now(self, topics: Collection[str], marks_topic: str) -> int | None:
        return self._wall()

    def marks(self, topic: str, horizon: int | None) -> list[Mark]:
        return []

    def mark(self, source: Source, marks: list[Mark], at: int | None = None) -> None:
        pass

    def describe(self) -> dict[str, object] | None:
        return None


class WatermarkClock:
    """Event time: inputs applied at their own time in order, deadlines fired as the
    watermarks pass them (the invariants at the top of this module)."""

    in_order: ClassVar[bool] = True

    def __init__(
        self,
        idle_s: float = 5.0,
        partitions: int = 1,
        caught_up: Callable[[Source], bool] | None = None,
        stale_s: float = 5.0,
        wall: Callable[[], int] | None = None,
        wait_max_s: float = 300.0,
    ) -> None:
        self._wall = wall or wall_us
        self.wait_max_us = int(wait_max_s * 1_000_000)
        self._assigned_at: dict[Source, int] = {}  # marks partitions: wall time assigned
        self._gave_up: set[tuple[object, ...]] = set()  # waits given up on, warned once
        self._resumed = 0  # wall time the last rebalance's tables were recovered
        self._floor: dict[Source, int] = {}  # restored states' times (see `restored_time`)
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
                self._assigned_at.setdefault(source, now)
            else:
                self._heard.setdefault(source, now)

    def sources(self) -> list[Source]:
        """The input partitions this worker reads (not the marks')."""
        return list(self._heard)

    def resumed(self) -> None:
        """A rebalance's tables are recovered and the flow goes on: waits are bounded
        from now (a recovery may take longer than any bound)."""
        self._resumed = self._wall()
        self._gave_up.clear()

    def forget(self, sources: set[Source]) -> None:
        """Partitions revoked in a rebalance no longer hold anything back."""
        for source in sources:
            for table in (
                self._latest,
                self._heard,
                self._sent,
                self._marks,
                self._assigned_at,
                self._floor,
            ):
                table.pop(source, None)

    # -- inputs ----------------------------------------------------------------------
    def observe(self, source: Source | None, event_time: int) -> int:
        """Time for applying an input that happened at `event_time`; `source` (topic,
        partition) feeds the watermark (None for inputs that do not)."""
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
        if source not in self._heard:
            return
        previous = self._latest.get(source)
        if previous is None or event_time > previous:
            self._latest[source] = event_time
        if self.reference is None or event_time > self.reference:
            self.reference = event_time

    def restored_time(self, source: Source, event_time: int) -> None:
        """A state restored for a key whose inputs come on `source` has got to
        `event_time`: once every partition is idle (all read, the inputs after the last
        commit read again too), time stands at least there. Without it a worker whose
        input was all committed before it died reads nothing after the restart, has no
        time at all, and never fires what was due by then. It never moves the low
        watermark: records after the commit may come before it."""
        if source in self._heard and event_time > self._floor.get(source, 0):
            self._floor[source] = event_time

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
        return key_clock if key_clock is not None else event_time

    def for_tick(self, deadline: int) -> int:
        """Time for a deadline tick: the deadline itself on the event clock (as replay
        fires each deadline at its own time)."""
        return deadline

    def detected_at(self) -> int | None:
        return None

    def admit(self, guard: ClockGuard, times: list[int]) -> None:
        """Against this worker's event clock (`clock_jump`); several times: inputs
        applied one after another (a GPS batch's pings)."""
        guard.on_event_clock_each(times, self.reference)

    def applied_at(self, guard: ClockGuard, arrival: int | None, when: int) -> int:
        """Its own time, or its arrival stamp if later. A stamp the clock guard would
        refuse as a record's time is ignored (hostile input must not move time)."""
        if arrival is None or arrival <= when:
            return when
        reference = self.reference
        try:  # (before this worker has a clock, measured against the record's own time)
            guard.on_event_clock(arrival, when if reference is None else reference)
        except InvalidRecord:
            return when
        return arrival

    # -- this side's watermark -------------------------------------------------------
    def _idle(self, source: Source, heard: int, wall: int) -> bool:
        if wall - heard < self.idle_us:
            return False
        if self.caught_up is None or self.caught_up(source):
            return True
        if wall - max(heard, self._resumed) < self.wait_max_us:
            return False
        self._give_up(("behind", source), "a partition behind its end delivers nothing", source)
        return True

    def _give_up(self, what: tuple[object, ...], why: str, source: Source) -> None:
        """Invariant 7: stop waiting, and say so once."""
        if what not in self._gave_up:
            self._gave_up.add(what)
            log.warning(
                f"event clock: {why}; it no longer holds time back",
                topic=source[0],
                partition=source[1],
                waited_s=self.wait_max_us / 1_000_000,
            )

    def _low(self, topics: Collection[str]) -> _Low:
        wall = self._wall()
        low: int | None = None
        high = None
        unheard = False
        for source, heard in self._heard.items():
            if source[0] not in topics:
                continue
            latest = self._latest.get(source)
            top = max(latest or 0, self._floor.get(source, 0)) or None
            if top is not None and (high is None or top > high):
                high = top
            if self._idle(source, heard, wall):
                continue  # caught up: it holds nothing back
            if latest is None:
                unheard = True
            elif low is None or latest < low:
                low = latest
        return _Low(unheard, low, high)

    def reached(self, topics: Collection[str], event_time: int) -> bool:
        """Whether every partition of `topics` this worker reads has been read up to
        `event_time`, or is idle: nothing read there from now on comes before it."""
        unheard, low, _ = self._low(topics)
        return not unheard and (low is None or low >= event_time)

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
        for (name, where), seen in self._marks.items():
            if name != topic:
                continue
            heard = True
            since = max(self._assigned_at.get((name, where), wall), self._resumed)
            waited = wall - since >= self.wait_max_us
            for partition in range(self.partitions):
                said = seen.get(partition)
                bound = None if said is None else self._bound(*said, wall)
                if bound is None and waited:
                    why = f"the other side's partition {partition} never said how far it got"
                    self._give_up(("marks", name, where, partition), why, (name, where))
                    continue
                if said is None or bound is None:
                    return None
                mark = said[0]
                safe = min(safe, bound)
                if mark.latest is not None and (latest is None or mark.latest > latest):
                    latest = mark.latest
        if not heard:
            return None
        return Upstream(None if safe == _UNBOUNDED else safe, latest)

    def upstream_reached(self, topic: str, event_time: int) -> bool:
        """Whether the other side has sent everything up to `event_time`."""
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
        unheard, low, high = self._low((topic,))
        if unheard:
            return None
        return high if low is None else low

    def released(self, topic: str) -> tuple[set[int], int | None]:
        """The partitions of `topic` read to their end and quiet, and the time up to
        which their keys' deadlines may fire whatever the watermark (event clock only;
        None: all of them). Nothing read later on them comes before: up to the latest
        input this worker has applied on any topic (scans move time on while the GPS is
        quiet, as replay's one clock does), and with every partition it reads idle, all."""
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
        unheard, low, high = self._low(topics)
        up = self.upstream(marks_topic)
        if unheard or up is None:
            return None
        reached = low if low is not None else self._reached(high, up)
        if reached is None or up.safe is None:
            return reached
        return min(reached, up.safe)

    def describe(self) -> dict[str, object] | None:
        """The clock's state, for a status log line: how far each partition has got,
        the other side's progress, and what time waits on."""
        return {
            "latest": {f"{t}/{p}": v for (t, p), v in sorted(self._latest.items())},
            "upstream": {t: self.upstream(t) for t in sorted(self._mark_topics)},
            "waits_on": self.waits_on(),
        }

    def waits_on(self) -> list[str]:
        """What holds time back now, in words."""
        wall = self._wall()
        out = [
            f"{t}/{p}: nothing read yet"
            for (t, p), heard in sorted(self._heard.items())
            if (t, p) not in self._latest and not self._idle((t, p), heard, wall)
        ]
        if self._heard and not self._latest and not self._floor:
            out.append("nothing read and no state restored: no time yet")
        for (t, p), seen in sorted(self._marks.items()):
            for partition in range(self.partitions):
                said = seen.get(partition)
                if said is None:
                    out.append(f"{t}/{p}: no mark yet for the other side's partition {partition}")
                elif self._bound(*said, wall) is None:
                    out.append(f"{t}/{p}: partition {partition}'s mark has no safe time yet")
        return out


def make_clock(
    kind: str,
    partitions: int = 1,
    caught_up: Callable[[Source], bool] | None = None,
    wait_max_s: float = 300.0,
) -> LiveClock:
    """The clock the `clock` setting names: "event" or "wall"."""
    if kind == "event":
        return WatermarkClock(partitions=partitions, caught_up=caught_up, wait_max_s=wait_max_s)
    return SystemClock()


def wall_us() -> int:
    return time.time_ns() // 1000
