"""The live clock: the wall clock, or event-time watermarks.

On the event clock an input is applied at its own event time (each key's time still never
goes back, see the core), and deadlines fire when a *low* watermark passes them: the
minimum, over the partitions this worker reads, of the latest event time in each. A
worker catching up on a backlog reads partitions at different speeds; a plain maximum
would run ahead of the slowest partition and fire deadlines for inputs still unread.
Partitions quiet for `idle_s` and caught up hold nothing back. The waybills topic is left
out: orders arrive only when parcels are created, and would hold the watermark back.

Data flows one way, from the vehicle side to the waybill side, and so does time. A
waybill that gets a scan at T must first have heard every vehicle fact up to T, or
replay's order is lost (a stall on the road reported after the parcel was already
unloaded is dropped). So the vehicle side publishes its progress as *marks* on every
partition of the facts topic, after the facts they cover (one producer, one partition:
Kafka keeps that order). The waybill side takes the *upstream watermark* from the marks
it has read, sets scans beyond it aside (see stream/agents/handlers.py), and fires its
deadlines only up to it. The vehicle side waits for nothing: its deadlines fire on the
GPS watermark, and those of an idle GPS partition's vehicles as far as this worker's
inputs have got, or all of them once everything it reads is idle (`released`): its
marks never wait on a time no GPS input will bring.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Source = tuple[str, int]
"""(topic, partition)."""

UNHEARD = object()
"""A partition assigned but not heard from yet: it holds everything back."""

NEVER = 2**62
"""The time an idle partition holds the other side back to: none."""


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
        at least every second (stream/app.py), so this is several missed marks."""
        self.partitions = partitions
        self._latest: dict[Source, int] = {}
        self._heard: dict[Source, int] = {}  # wall time of the last message
        self._sent: dict[Source, int] = {}  # latest input whose outputs are all sent
        # (marks topic, partition) -> input partition -> (safe, latest, sent at), as read
        self._marks: dict[Source, dict[int, tuple[int | None, int | None, int | None]]] = {}
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

    def _low(self, topic: str) -> tuple[object, int | None]:
        """(low watermark over the topic's active partitions, None if all are idle, or
        UNHEARD; the latest event time seen on any of them)."""
        wall = self._wall()
        low: object = None
        high = None
        for source, heard in self._heard.items():
            if source[0] != topic:
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

    def marks(self, topic: str, horizon: int | None) -> list[list[object]]:
        """This side's progress per partition of `topic` it reads, as [partition, safe,
        latest]: every output for inputs up to `safe` is sent (None: not known yet;
        NEVER: the partition is idle, it holds nothing back). Capped at `horizon`, set
        by this side's deadlines not yet fired and inputs set aside: what those will
        say is not sent yet (see the handlers' `marks`)."""
        wall = self._wall()
        out: list[list[object]] = []
        # Sorted: assign() takes a set, so insertion order is the hash seed's choice, and
        # a marks record should be the same bytes for the same state.
        for source, heard in sorted(self._heard.items()):
            if source[0] != topic:
                continue
            latest = self._latest.get(source)
            safe = NEVER if self._idle(source, heard, wall) else self._sent.get(source)
            if horizon is not None and safe is not None and horizon < safe:
                safe = horizon
            out.append([source[1], safe, latest])
        return out

    # -- the other side's watermark --------------------------------------------------
    def mark(self, source: Source, marks: list[list[object]], at: int | None = None) -> None:
        """Marks read on `source` (a partition of a marks topic), sent at wall time `at`."""
        seen = self._marks.setdefault(source, {})
        for partition, safe, latest in marks:
            seen[int(partition)] = (safe, latest, at)  # type: ignore[arg-type,call-overload]

    def _safe(self, safe: int | None, latest: int | None, at: int | None, wall: int) -> int | None:
        """What a mark still guarantees. "Idle" (NEVER) is a promise about the future that
        only a live sender keeps, by saying it again (every second at least): once older than
        `stale_s` (the sender died, or lost the partition in a rebalance) it covers only
        what the sender had read, its `latest`, until the partition's new owner reports."""
        if safe == NEVER and at is not None and wall - at > self.stale_us:
            return latest
        return safe

    def upstream(self, topic: str) -> tuple[int, int | None] | None:
        """The other side's progress as far as this worker has read its marks on
        `topic`: (safe, latest) over all of its partitions, or None while a partition
        has not reported on each marks partition assigned here."""
        safe = NEVER
        latest = None
        heard = False
        wall = self._wall()
        for (name, _), seen in self._marks.items():
            if name != topic:
                continue
            heard = True
            for partition in range(self.partitions):
                mark_safe, mark_latest, at = seen.get(partition, (None, None, None))
                mark_safe = self._safe(mark_safe, mark_latest, at, wall)
                if mark_safe is None:
                    return None
                safe = min(safe, mark_safe)
                if mark_latest is not None and (latest is None or mark_latest > latest):
                    latest = mark_latest
        return (safe, latest) if heard else None

    def upstream_reached(self, topic: str, event_time: int) -> bool:
        """Whether the other side has sent everything up to `event_time`."""
        if not self.event_mode:
            return True
        up = self.upstream(topic)
        return up is not None and up[0] >= event_time

    # -- deadlines -------------------------------------------------------------------
    @staticmethod
    def _reached(high: int | None, up: tuple[int, int | None]) -> int | None:
        """How far time has got: the latest input here, or what the other side has
        safely got to (replay fires a deadline as soon as any input passes it)."""
        safe, latest = up
        other = min(safe, latest) if latest is not None else None
        if other is None:
            return high
        return other if high is None else max(high, other)

    def now(self, topic: str) -> int | None:
        """The time up to which vehicle deadlines may fire: the low watermark of the
        GPS (`topic`) partitions; with all idle, the latest read."""
        if not self.event_mode:
            return self._wall()
        low, high = self._low(topic)
        if low is UNHEARD:
            return None
        return high if low is None else low  # type: ignore[return-value]

    def released(self, topic: str) -> tuple[set[int], int]:
        """The partitions of `topic` read to their end and quiet, and the time up to
        which their keys' deadlines may fire whatever the watermark (event clock only).
        Nothing read later on them comes before: up to the latest input this worker has
        applied on any topic (scans move time on while the GPS is quiet, as replay's
        one clock does), and with every partition it reads idle, all of them."""
        if not self.event_mode:
            return set(), 0
        wall = self._wall()
        idle = {source for source, heard in self._heard.items() if self._idle(source, heard, wall)}
        partitions = {source[1] for source in idle if source[0] == topic}
        if not partitions:
            return partitions, 0
        if len(idle) == len(self._heard):
            return partitions, NEVER
        return partitions, self.reference if self.reference is not None else 0

    def waybill_now(self, topic: str, marks_topic: str) -> int | None:
        """The time up to which waybill deadlines may fire: the low watermark of the
        scans (`topic`), never past what the vehicle side has safely sent (its marks on
        `marks_topic`): a vehicle condition changing at T reaches the waybill first."""
        if not self.event_mode:
            return self._wall()
        low, high = self._low(topic)
        up = self.upstream(marks_topic)
        if low is UNHEARD or up is None:
            return None
        reached = low if low is not None else self._reached(high, up)
        return None if reached is None else min(reached, up[0])  # type: ignore[call-overload]

    def describe(self) -> dict[str, object]:
        """The clock's state, for a status log line."""
        return {
            "latest": {f"{t}/{p}": v for (t, p), v in sorted(self._latest.items())},
            "upstream": {t: self.upstream(t) for t in sorted(self._mark_topics)},
        }


def wall_us() -> int:
    return time.time_ns() // 1000
