"""A min-heap of per-key deadlines with lazy invalidation.

Each key (a waybill or a vehicle) has one live deadline. Moving it earlier pushes a heap
entry; moving it later pushes nothing — the old entry is re-queued at the live time when
it surfaces. A GPS-silence check pushed back by every ping therefore costs a dict write,
not a heap push.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DeadlineQueue(Generic[K]):
    __slots__ = ("_heap", "_live")

    def __init__(self) -> None:
        self._heap: list[tuple[int, K]] = []
        self._live: dict[K, int] = {}

    def __len__(self) -> int:
        """Keys with a live deadline (the deadline backlog)."""
        return len(self._live)

    def schedule(self, key: K, when: int | None) -> None:
        """Set the key's deadline, or clear it with None."""
        live = self._live
        if when is None:
            live.pop(key, None)
            return
        current = live.get(key)
        live[key] = when
        if current is None or when < current:
            heapq.heappush(self._heap, (when, key))

    def bring_forward(self, key: K, when: int) -> None:
        """Make the key's deadline `when` if it has none or a later one."""
        current = self._live.get(key)
        if current is None or when < current:
            self.schedule(key, when)

    def pop_due(self, now: int) -> tuple[int, K] | None:
        """The earliest live (deadline, key) at or before `now`, removed; else None."""
        heap = self._heap
        live = self._live
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            actual = live.get(key)
            if actual == when:
                del live[key]
                return when, key
            if actual is not None and actual > when:
                heapq.heappush(heap, (actual, key))  # moved later since it was queued
        return None

    def deadline(self, key: K) -> int | None:
        """The key's live deadline, if it has one."""
        return self._live.get(key)

    def peek(self) -> int | None:
        """The earliest live deadline, without removing it."""
        heap = self._heap
        live = self._live
        while heap:
            when, key = heap[0]
            actual = live.get(key)
            if actual == when:
                return when
            heapq.heappop(heap)
            if actual is not None and actual > when:
                heapq.heappush(heap, (actual, key))
        return None

    def count_due(self, now: int) -> int:
        """How many keys have a live deadline at or before `now` (a metric). Visits only
        heap entries at or before `now`: a due key's entries all are (each is at or
        before its live deadline), and nothing below a later entry is due."""
        heap = list(self._heap)  # a copy: metrics are read from another thread
        live = self._live
        due = set()
        stack = [0] if heap else []
        while stack:
            i = stack.pop()
            when, key = heap[i]
            if when > now:
                continue
            actual = live.get(key)
            if actual is not None and actual <= now:
                due.add(key)
            stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
        return len(due)
