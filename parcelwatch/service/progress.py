"""How far this worker has read each input partition, and the consumer's lapses sought
back (the invariant of parcelwatch/service/watchdog.py: every offset of an assigned
partition is processed, in order)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import faust
import structlog
from faust.types import TP, EventT

from parcelwatch.service.faust_compat import commit_only_processed, committed_offset, flow_active
from parcelwatch.service.metrics import Metrics
from parcelwatch.service.settings import Topics
from parcelwatch.service.watchdog import Gaps, Source, Watchdog

log = structlog.get_logger(__name__)


class Progress:
    """Next offsets to process per input partition, and what the consumer says is there."""

    def __init__(
        self,
        app: faust.App,
        topics: Topics,
        metrics: Metrics,
        commits: bool = True,
        partitions: int = 0,
    ) -> None:
        self._app = app
        self._commits = commits
        self._topics = topics
        self._metrics = metrics
        self._read: dict[Source, int] = {}  # next offset to process, per partition
        # The same, kept through rebalances: what a commit may claim (a commit below
        # the group's last one is never made, so a stale entry is harmless).
        self._done: dict[TP, int] = {}
        self._guarded = False
        # exactly_once: the vehicle side's producers (one per partition) write the facts
        # in transactions, each leaving a commit marker between the facts it wrote.
        self.gaps = Gaps(self.position, None if commits else {topics.facts: partitions})
        self._consumed = frozenset(
            {*topics.waybill_inputs, topics.facts, topics.waybill_ticks}
            | {topics.gps, topics.vehicle_ticks}
        )
        self.watchdog = Watchdog(self.assigned, self.position, self.highwater)

    def position(self, source: Source) -> int | None:
        """The next offset this worker processes on `source`: past what it processed,
        else where the group's last commit left it. After a restart or a fail-over a
        partition may have nothing left to read, and must not wait for a record that
        never comes (faust keeps the committed offsets it sought to, privately)."""
        if source in self._read:
            return self._read[source]
        return committed_offset(self._app, *source)

    def highwater(self, source: Source) -> int | None:
        try:
            return self._app.consumer.highwater(TP(*source))
        except Exception:  # not assigned (any more): nothing of it to wait for
            return None

    def caught_up(self, source: Source) -> bool:
        try:
            high = self._app.consumer.highwater(TP(*source))
        except Exception:  # not assigned (any more): nothing of it to wait for
            return True
        # Assigned but not fetched from yet (as while its tables recover after a
        # fail-over): its end is unknown, so all of it may be still to come.
        return high is not None and (self.position(source) or 0) >= high

    def assigned(self) -> list[Source]:
        """The input partitions assigned to this worker now."""
        return [
            (tp.topic, tp.partition)
            for tp in self._app.consumer.assignment()
            if tp.topic in self._consumed
        ]

    def admitted(self, events: Sequence[EventT]) -> list[EventT]:
        """The events of a batch that follow on from what was processed: none past a
        record the consumer skipped (Gaps)."""
        admit = self.gaps.admit
        return [
            e for e in events if admit((e.message.topic, e.message.partition), e.message.offset)
        ]

    def done(self, msg: faust.types.Message) -> None:
        """An input record is done: its processing latency, and how far it is read."""
        self._read[(msg.topic, msg.partition)] = msg.offset + 1
        self._done[msg.tp] = msg.offset + 1
        name = self._topics.inputs.get(msg.topic)
        if name is not None and msg.timestamp:
            self._metrics.processed(name, time.time() - msg.timestamp)

    def guard_commits(self) -> None:
        """From now on the consumer commits only what was processed (once the consumer
        exists: at the first assignment); nothing at all where the offsets are committed
        in transactions (exactly_once)."""
        if self._guarded:
            return
        self._guarded = True
        processed = self._done.get if self._commits else _nothing
        if not commit_only_processed(self._app, processed):
            log.warning(
                "cannot limit commits to processed records: a kill -9 may lose input "
                "Faust counted as acked (see parcelwatch/service/faust_compat.py)"
            )

    def revoked(self, sources: Iterable[Source]) -> None:
        """A rebalance: if a partition comes back, the group's commit says where it stands."""
        self.watchdog.reset()
        self.gaps.reset()
        for source in sources:
            self._read.pop(source, None)

    async def read_holes_again(self) -> None:
        """Seek each partition with records skipped back to the first of them."""
        for source, offset in self.gaps.to_seek():
            await self._read_again(source, offset, "input records skipped by the consumer")

    async def unstick(self) -> None:
        """A partition the consumer stopped delivering is sought back to its next offset
        to process (Watchdog). Not while the flow is stopped: a rebalance or a recovery
        holds every partition still, and says nothing about the consumer."""
        if self._app.rebalancing or not flow_active(self._app):
            self.watchdog.reset()
            return
        for source, offset in self.watchdog.stuck(time.monotonic()):
            await self._read_again(source, offset, "input partition stuck behind its end")

    async def _read_again(self, source: Source, offset: int, why: str) -> None:
        log.warning(
            f"{why}: reading on from the next offset to process",
            topic=source[0],
            partition=source[1],
            offset=offset,
        )
        self._metrics.reread(source[0])
        try:
            await self._app.consumer.seek(TP(*source), offset)
        except Exception:  # revoked meanwhile: its next owner starts from the commit
            log.info(
                "partition gone before it could be read again", topic=source[0], partition=source[1]
            )


def _nothing(tp: TP) -> None:
    """No offset for the consumer to commit."""
