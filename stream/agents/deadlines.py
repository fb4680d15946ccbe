"""Deadline ticks for the live pipeline.

State (and each key's next deadline) lives in the changelogged table. Each worker keeps
an index of the deadlines of the keys it processed or recovered, and a timer sends a tick
for each due key to a ticks topic keyed like the input, so the tick is processed by the
worker that owns the key's partition — inside stream iteration, where Faust allows table
writes. A duplicate or stale tick is harmless: a tick only fires what is due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..core.deadlines import DeadlineQueue
from .clock import LiveClock
from .messages import encode_tick


class TickSource:
    def __init__(self, clock: LiveClock, send: Callable[[bytes, bytes], Awaitable[object]]):
        self.clock = clock
        self.queue = DeadlineQueue()
        self._send = send

    def track(self, key: str, deadline: int | None) -> None:
        self.queue.schedule(key, deadline)

    async def fire(self, limit: int = 10_000) -> int:
        """Send ticks for due deadlines (at most `limit` per call); returns how many."""
        now = self.clock.now()
        if now is None:
            return 0
        sent = 0
        while sent < limit and (due := self.queue.pop_due(now)) is not None:
            when, key = due
            await self._send(str(key).encode(), encode_tick(when))
            sent += 1
        return sent

    def __len__(self) -> int:
        return len(self.queue)
