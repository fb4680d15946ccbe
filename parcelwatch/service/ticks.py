"""Deadline ticks for the live pipeline.

State (and each key's next deadline) lives in the changelogged table. Each worker keeps
an index of the deadlines of the keys it processed or recovered, and a timer sends a tick
for each due key to the ticks topic's partition numbered like the one the key's inputs
arrive on (stored with its state), so the tick is processed by the worker that owns the
key's partition, next to its state — inside stream iteration, where Faust allows table
writes. Never by hashing the key: producers may use any partitioner. A duplicate or
stale tick is harmless: a tick only fires what is due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from parcelwatch.detection.deadlines import DeadlineQueue
from parcelwatch.service.eventtime import wall_us
from parcelwatch.service.wire import encode_tick

IN_FLIGHT_US = 30_000_000
"""A tick not reported done after this long is sent again (a duplicate is harmless): a
tick seen lost under load on the embedded broker left its parcel's scans set aside for
good. After `RESENDS` tries it is forgotten (its key moved to another worker in a
rebalance), so it cannot hold the horizon back for ever."""
RESENDS = 3


class TickSource:
    def __init__(
        self,
        now: Callable[[], int | None],
        send: Callable[[bytes, bytes, int | None], Awaitable[object]],
        released: Callable[[], tuple[Collection[int], int | None]] | None = None,
    ) -> None:
        self.now = now
        self.released = released
        """Partitions whose keys' deadlines are due up to a time past `now`, and that
        time, None: all (the vehicle side's idle GPS partitions, WatermarkClock.released)."""
        self.queue: DeadlineQueue[str] = DeadlineQueue()
        self._send = send
        self._partition: dict[str, int] = {}  # key -> partition its state lives on
        self._in_flight: dict[bytes, tuple[int, int]] = {}  # key -> (deadline, wall sent)
        self._resent: dict[bytes, int] = {}

    def track(self, key: str, deadline: int | None, partition: int | None) -> None:
        """`key`'s next tick, to `partition` (where its inputs arrive; None: unknown, the
        producer's partitioner decides, as for state stored before partitions were)."""
        self.queue.schedule(key, deadline)
        if deadline is None:
            self._partition.pop(key, None)
        elif partition is not None:
            self._partition[key] = partition

    def no_later(self, key: str, deadline: int, partition: int | None) -> None:
        """A tick for `key` at `deadline` at the latest (an earlier one stays)."""
        self.queue.bring_forward(key, deadline)
        if partition is not None:
            self._partition[key] = partition

    async def fire(self, limit: int = 10_000) -> int:
        """Send ticks for due deadlines (at most `limit` per call); returns how many."""
        self._expire()
        now = self.now()
        sent = 0
        while now is not None and sent < limit and (due := self.queue.pop_due(now)) is not None:
            await self._fire(*due)
            sent += 1
        # Released partitions fire with no time of this side's own too: a restarted
        # worker whose GPS input was all committed before it died reads none, and its
        # vehicles' deadlines would otherwise wait for ever (and the waybill side
        # behind their marks).
        partitions, upto = self.released() if self.released is not None else ((), 0)
        if partitions and (upto is None or now is None or upto > now):
            live = self.queue.deadline
            for key, partition in list(self._partition.items()):
                if sent >= limit:
                    break
                when = live(key) if partition in partitions else None
                if when is not None and (upto is None or when <= upto):
                    self.queue.schedule(key, None)
                    await self._fire(when, key)
                    sent += 1
        return sent

    def reached(self, deadline: int, partition: int) -> bool:
        """Whether this worker's own clock has got to `deadline` for a key on
        `partition`, as `fire` decides. A tick read here may have been sent by a worker
        that then died before the state of the inputs it had read reached the changelog:
        the new owner reads those inputs again, and a tick fired before they are back
        would fire on a state that lacks them."""
        now = self.now()
        if now is not None and deadline <= now:
            return True
        if self.released is None:
            return False
        partitions, upto = self.released()
        return partition in partitions and (upto is None or deadline <= upto)

    async def _fire(self, when: int, key: str) -> None:
        raw = str(key).encode()
        self._in_flight[raw] = (when, wall_us())
        await self._send(raw, encode_tick(when), self._partition.get(key))

    def done(self, key: bytes | None) -> None:
        """The tick for `key` has been processed and its outputs sent."""
        if key is not None:
            self._in_flight.pop(key, None)
            self._resent.pop(key, None)

    def _expire(self) -> None:
        """Queue again the ticks in flight for too long; forget those tried too often."""
        stale = wall_us() - IN_FLIGHT_US
        for key, (when, sent) in list(self._in_flight.items()):
            if sent >= stale:
                continue
            del self._in_flight[key]
            tries = self._resent.get(key, 0)
            if tries < RESENDS:
                self._resent[key] = tries + 1
                self.queue.bring_forward(key.decode(), when)
            else:
                self._resent.pop(key, None)

    def horizon(self) -> int | None:
        """The earliest deadline not yet processed (queued or in flight): what this side
        will still say about times from there on is not sent yet."""
        self._expire()
        earliest = self.queue.peek()
        for when, _ in self._in_flight.values():
            if earliest is None or when < earliest:
                earliest = when
        return earliest

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def __len__(self) -> int:
        return len(self.queue)

    def backlog(self) -> int:
        """Deadlines due and not yet processed: in flight, or due and not sent yet."""
        now = self.now()
        due = self.queue.count_due(now) if now is not None else 0
        return due + len(self._in_flight)
